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
	srv *Server
	id  string
	log *zap.Logger
	// shredNotes are the (subject key, column) pairs whose shredded cells
	// this session has already audited.
	shredNotes map[string]bool

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

	// tracking is on with a policy or an auditor: the pumps then follow
	// each request to its answer (expect.go).
	tracking   bool
	audit      atomic.Pointer[audit.Session] // replaced when a reload re-binds the role
	statements int64
	lastRead   readMemo // see readColumns

	acc accessState // roles and access rules (access.go)

	// Encryption state (nil/empty without a Protection): where the
	// protected columns are, how to decrypt the current result set, and the
	// refusals whose marker errors the backend has yet to return.
	catalog       atomic.Pointer[catalog] // swapped by the backend pump after DDL
	refusals      refusalQueue
	expects       expectQueue
	clientStmts   map[string]*stmtInfo   // statements as the client pump planned them
	stmts         map[string]*stmtInfo   // statements the backend accepted (backend pump)
	portals       map[string]*portalInfo // portals the backend bound (backend pump)
	result        []*resultField         // the current simple-Query result set (backend pump)
	suppress      bool                   // drop the rest of a result phiguard failed mid-way
	abortOwed     bool                   // phiguard failed a result and the transaction is not yet aborted (backend pump, txabort.go)
	heldStatus    byte                   // the status of a ReadyForQuery held for the abort's; 0 when none (backend pump)
	midSegment    bool                   // extended-protocol messages went out since the last Sync (client pump, txabort.go)
	abortFlushed  bool                   // a Flush followed the last client message (client pump, txabort.go)
	rowScratch    rowScratch             // reused by decryptDataRow (backend pump)
	described     describedMemo          // describeFields' recent answers (backend pump, described.go)
	clientPortals map[string]*stmtInfo   // portal → statement, as the client pump bound them
	rounds        sessionRounds          // statements in rounds (client pump, protect_rounds.go)
	// portalFilters are the constants of a bound portal's proxy-side
	// WHERE, read at its Bind (filter_args.go); client pump only.
	portalFilters map[string][]filterArgs
	// describedPortals are the portals described since their Bind in
	// this protocol segment (client pump, describe.go).
	describedPortals map[string]bool
	// datetimeSent counts the requests that may change DateStyle,
	// TimeZone or IntervalStyle sent so far, datetimeBefore its value
	// before the current message, datetimeInRequest whether the current
	// Query changes them before its last statement (client pump);
	// datetimeDone is the count whose answers the backend pump has seen
	// (datetime_pending.go).
	datetimeSent, datetimeBefore uint64
	datetimeInRequest            bool
	datetimeDone                 atomic.Uint64
	// unseenSent, unseenDone and unseenSettled: the same for requests
	// that may change settings unseen (settings_unseen.go); unseenSettled
	// wakes the client pump when unseenDone grows.
	unseenSent    uint64
	unseenDone    atomic.Uint64
	unseenSettled chan struct{}
	// segmentUnseen: the segment executed such a call (client pump).
	segmentUnseen   bool
	copyIn          *copyRewriter                    // a COPY FROM STDIN being rewritten (client pump)
	bindScratch     bindScratch                      // reused by protectBind (client pump, bind_rewrite.go)
	ddlSeen         bool                             // DDL went out: refresh the catalog after it (client pump)
	catalogStale    atomic.Bool                      // read the catalog before planning the next request (either pump, catalog_fresh.go)
	catalogInTx     bool                             // the catalog was read inside a transaction, which may yet roll its DDL back (backend pump, catalog_fresh.go)
	reloadUnread    bool                             // a reload changed the protected tables and the catalog was not read since (client pump, staleInSegment)
	catalogInFlight chan struct{}                    // closed when the catalog read queued behind DDL is stored (client pump, catalog_fresh.go)
	bindNames       nameTable                        // statement and portal names of Binds, interned (client pump, protect_client.go)
	atSegmentStart  bool                             // the client message being handled starts a protocol segment (client pump, catalog_fresh.go)
	segmentOpen     bool                             // extended-protocol messages went out since the last Sync (client pump)
	objsNeeded      bool                             // re-read the database objects after this request (client pump)
	unsettled       []*replacement                   // Parses reusing a name, not yet answered (client pump, reparse.go)
	cursors         cursorMap                        // SQL cursors and named portals, as the backend confirmed them (cursors.go)
	timeZone        atomic.Pointer[sessionZone]      // the backend's last reported TimeZone (datetime.go)
	dateStyle       atomic.Pointer[sessionDateStyle] // and DateStyle
	intervalStyle   atomic.Pointer[string]           // and IntervalStyle
	output          atomic.Pointer[outputSettings]   // extra_float_digits and bytea_output (output.go)
	outputSeen      bool                             // a request may change them: read them after it (client pump)
	backendDone     chan struct{}                    // closed when the backend pump ends

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
	waiting  bool        // the client pump is blocked reading a new message
	deadline bool        // a wake-up read deadline may be set on client
	draining bool
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
	s.startTracking()
	s.log.Info("session started")
	start := time.Now()
	s.record(&audit.ConnectionOpen{Time: start, Session: s.auditInfo()})
	err = s.pump()
	s.log.Info("session ended", zap.Duration("duration", time.Since(start)), zap.NamedError("reason", err))
	s.recordCutOff(s.cutOffCode(err))
	s.record(&audit.ConnectionClose{Session: s.auditInfo(), Duration: time.Since(start), Statements: s.statements, Reason: closeReason(err)})
}

// startTracking turns on, with a policy or an audit trail, the following
// of each request to its answer (expect.go).
func (s *session) startTracking() {
	s.tracking = s.srv.protect != nil || s.srv.auditor != nil
	if s.tracking {
		s.clientStmts = map[string]*stmtInfo{}
		s.stmts = map[string]*stmtInfo{}
		s.portals = map[string]*portalInfo{}
		s.clientPortals = map[string]*stmtInfo{}
		s.portalFilters = map[string][]filterArgs{}
		s.describedPortals = map[string]bool{}
	}
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
	if pe := s.checkStartupSettings(hello.params); pe != nil {
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
	s.unseenSettled = make(chan struct{}, 1)
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
