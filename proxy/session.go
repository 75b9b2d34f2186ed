package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"go.uber.org/zap"
)

// closeReason names how a session ended, for its audit record.
func closeReason(err error) string {
	switch {
	case err == nil:
		return "terminate"
	case errors.Is(err, errDrained), errors.Is(err, errAborted):
		return "shutdown"
	case errors.Is(err, io.EOF):
		return "client_eof"
	}
	return "error"
}

// Buffer sizes per session and direction. A message that fits the read
// buffer is forwarded without a copy; larger ones are streamed.
const (
	readBufferSize  = 16 << 10
	writeBufferSize = 16 << 10
)

// session is one client connection and the backend connection phiguard
// opened for it. Its life: negotiate (TLS, cancel or startup), dial the
// backend, relay authentication, then two pumps, one per direction, until
// either side leaves. Each pump owns the writer toward the other side, so
// no lock guards the data path.
type session struct {
	srv        *Server
	id         string
	log        *zap.Logger
	client     net.Conn
	clientBuf  *bufio.Reader        // startup-phase reader; cr wraps it afterwards
	tlsState   *tls.ConnectionState // client leg; nil when plaintext
	backend    net.Conn
	backendTLS *tls.ConnectionState // backend leg; nil when plaintext

	cr *pgwire.MsgReader // from the client
	cw *bufio.Writer     // to the client, owned by the backend pump
	br *pgwire.MsgReader // from the backend
	bw *bufio.Writer     // to the backend, owned by the client pump

	user, database string
	source         netip.Addr // client IP, for the per-source startup cap
	slot           *slot      // the startup slot it holds until logged in (admission.go)
	cancelPID      uint32
	authSQLState   string // the backend's SQLSTATE when it refused the login

	// g is the session's guard (package guard), made once the login is
	// accepted: with a policy or an audit trail (g.Tracking) every message
	// passes it; it holds encryption, access, audit and the state they
	// follow.
	g *guard.Session

	backendDone chan struct{} // closed when the backend pump ends

	// terminating is set once phiguard itself ends the backend connection,
	// so the backend pump does not report the expected EOF as a failure.
	terminating atomic.Bool

	// mu guards the state that the two pumps and Shutdown share: what is in
	// flight, whether the client pump is blocked waiting for the client, and
	// whether the server is draining. See drain.go.
	mu       sync.Mutex
	inflight []time.Time // start of each Query/Sync not yet answered by ReadyForQuery
	head     int         // index of the oldest entry of inflight still unanswered
	txStatus byte        // from the latest ReadyForQuery: 'I', 'T' or 'E'
	// forwarding: a ReadyForQuery counted answered is not flushed to the
	// client yet (pump_backend.go); the session is not idle until it is.
	forwarding bool
	waiting    bool // the client pump is blocked reading a new message
	deadline   bool // a wake-up read deadline may be set on client
	draining   bool
	// aborted is why phiguard cut a busy session (the shutdown deadline):
	// the backend pump tells the client, and the cut requests' records
	// carry it (drain.go).
	aborted *pgerr.Error
}

// errDrained ends a session that was idle while the server shut down.
var errDrained = errors.New("session drained for shutdown")

// serve runs the whole session and closes both connections.
func (s *session) serve(ctx context.Context) {
	defer s.client.Close()
	defer s.leaveStartup()
	s.client.SetDeadline(time.Now().Add(s.srv.cfg.Limits.StartupTimeout.Std()))
	hello, err := s.negotiate()
	if err != nil {
		if s.slot != nil && s.slot.evicted.Load() {
			// Silent past silentGrace, its slot went to one that spoke.
			s.srv.metrics.ConnectionsRefused.WithLabelValues("silent_taken_over").Inc()
			return
		}
		s.refuse("protocol", err)
		return
	}
	if hello.cancel {
		if err := s.srv.forwardCancel(ctx, hello); err != nil {
			s.srv.startupLog.write(s.log, zap.WarnLevel, "cancel request not delivered", zap.Error(err))
		}
		return
	}
	if !s.acceptLogin(hello) {
		return
	}
	if !s.srv.admit(s) {
		s.refuse("too_many", pgerr.Fatal(pgerr.TooManyConnections, "sorry, too many clients already (limits.max_connections)"))
		return
	}
	defer s.srv.release(s)
	if s.srv.isDraining() {
		s.refuse("shutting_down", pgerr.Fatal(pgerr.CannotConnectNow, "phiguard is shutting down"))
		return
	}
	defer func() {
		if s.backend != nil {
			s.backend.Close()
		}
		if s.cancelPID != 0 {
			s.srv.cancels.remove(s.cancelPID)
		}
	}()
	if !s.login(ctx, hello) {
		return
	}
	s.leaveStartup()
	s.client.SetDeadline(time.Time{})
	s.backend.SetDeadline(time.Time{})
	s.log.Info("session started")
	start := time.Now()
	s.g.Record(&audit.ConnectionOpen{Time: start, Session: s.g.AuditInfo()})
	err = s.pump()
	s.log.Info("session ended", zap.Duration("duration", time.Since(start)), zap.NamedError("reason", err))
	s.g.RecordCutOff(s.cutOffCode(err))
	s.g.Record(&audit.ConnectionClose{Session: s.g.AuditInfo(), Duration: time.Since(start), Statements: s.g.Statements(), Reason: closeReason(err)})
}

// acceptLogin checks a StartupMessage before any backend is dialed: TLS
// when required, and settings phiguard could not parse under. It names the
// session's user and database.
func (s *session) acceptLogin(hello *clientHello) bool {
	if s.srv.cfg.TLS.Require || s.srv.cfg.TLS.ClientCA != "" {
		if s.tlsState == nil {
			s.refuse("tls_required", pgerr.Fatal(pgerr.InvalidAuthSpec,
				"phiguard requires TLS for every connection: connect with sslmode=require or stronger"))
			return false
		}
	}
	s.user, s.database = hello.params["user"], hello.params["database"]
	if s.database == "" {
		s.database = s.user
	}
	s.log = s.log.With(zap.String("user", s.user), zap.String("database", s.database))
	s.g = guard.NewSession(s.srv.guard, s.id, s.log, s.user, s.database, s.client.RemoteAddr().String(), s.tlsState)
	if pe := s.g.CheckStartupSettings(hello.params); pe != nil {
		s.refuse("startup_setting", pe)
		return false
	}
	return true
}

// pump runs both directions until one ends, then ends the other.
func (s *session) pump() error {
	fromClient := make(chan error, 1)
	fromBackend := make(chan error, 1)
	s.backendDone = make(chan struct{})
	s.g.Start(s.backendDone)
	go func() { fromClient <- s.pumpClient() }()
	go func() {
		err := s.pumpBackend()
		close(s.backendDone)
		fromBackend <- err
	}()
	select {
	case err := <-fromClient:
		return s.endAfterClient(err, fromBackend)
	case err := <-fromBackend:
		if s.terminating.Load() {
			// phiguard ended the backend itself (a drain, or the client's
			// Terminate), so the client pump is ending too and says why:
			// the client must still get its reason (57P01 on a drain).
			fromBackend <- err
			return s.endAfterClient(<-fromClient, fromBackend)
		}
		s.client.Close()
		<-fromClient
		return err
	}
}

// endAfterClient ends a session whose client pump stopped: the client
// left, broke the protocol, or the session was drained. The client pump's
// backend writer is free: end the backend session (a second Terminate
// after the client's own is harmless), let the backend pump deliver what
// was in flight, then tell the client why, when phiguard ended it.
func (s *session) endAfterClient(err error, fromBackend chan error) error {
	s.terminating.Store(true)
	s.bw.Write(pgwire.TerminateMessage)
	s.flushBackend()
	s.backend.SetReadDeadline(time.Now().Add(time.Second))
	<-fromBackend
	var proto *pgwire.ProtocolError
	switch {
	case errors.Is(err, errDrained):
		s.writeClientError(pgerr.Fatal(pgerr.AdminShutdown, "terminating connection because phiguard is shutting down"))
	case errors.As(err, &proto):
		s.srv.metrics.ConnectionsRefused.WithLabelValues("protocol").Inc()
		s.writeClientError(pgerr.Fatal(pgerr.ProtocolViolation, proto.Msg))
		s.drainClient()
	}
	return err
}

// forceClose cuts both connections; the pumps then end with errors.
func (s *session) forceClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client.Close()
	if s.backend != nil {
		s.backend.Close()
	}
}

// refuse ends a session before it reached the pumps, telling the client why
// when the error is one of phiguard's own. A client that ran out of
// limits.startup_timeout is counted as startup_timeout whatever the step.
// Its log lines are rate-limited (startlog.go): anyone can cause them.
func (s *session) refuse(reason string, err error) {
	var pe *pgerr.Error
	var proto *pgwire.ProtocolError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &proto):
		pe = pgerr.Fatal(pgerr.ProtocolViolation, proto.Msg)
		defer s.drainClient()
	case isTimeout(err):
		s.srv.metrics.ConnectionsRefused.WithLabelValues("startup_timeout").Inc()
		s.srv.startupLog.write(s.log, zap.InfoLevel, "startup timed out", zap.Duration("startup_timeout", s.srv.cfg.Limits.StartupTimeout.Std()))
		return
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		s.srv.metrics.ConnectionsRefused.WithLabelValues(reason).Inc()
		s.log.Debug("client left during startup")
		return
	default:
		s.srv.metrics.ConnectionsRefused.WithLabelValues(reason).Inc()
		s.srv.startupLog.write(s.log, zap.InfoLevel, "startup failed", zap.Error(err))
		return
	}
	s.srv.metrics.ConnectionsRefused.WithLabelValues(reason).Inc()
	s.srv.startupLog.write(s.log, zap.InfoLevel, "connection refused", zap.String("reason", reason), zap.String("sqlstate", string(pe.Code)))
	s.writeClientError(pe)
}

// writeClientError sends one of phiguard's own errors. Callers must own the
// client writer (no backend pump running).
func (s *session) writeClientError(pe *pgerr.Error) {
	s.srv.metrics.Errors.WithLabelValues(string(pe.Code[:2]), "phiguard").Inc()
	s.client.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if s.cw != nil {
		s.cw.Write(pe.Encode())
		s.flushClient()
		return
	}
	s.client.Write(pe.Encode())
}

// drainClient reads and discards what a misbehaving client is still
// sending, for a bounded time and amount, so that closing the connection
// does not reset it before the client has read phiguard's error.
func (s *session) drainClient() {
	if tc, ok := s.client.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	s.client.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.CopyN(io.Discard, s.client, int64(s.srv.cfg.Limits.MaxMessageBytes)+readBufferSize)
}

func (s *session) flushClient() error {
	n := s.cw.Buffered()
	if n == 0 {
		return nil
	}
	s.srv.metrics.BytesBackendToClient.Add(float64(n))
	return s.cw.Flush()
}

func (s *session) flushBackend() error {
	n := s.bw.Buffered()
	if n == 0 {
		return nil
	}
	s.srv.metrics.BytesClientToBackend.Add(float64(n))
	return s.bw.Flush()
}
