package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Server accepts client connections and runs a session for each.
type Server struct {
	cfg        config.Config
	log        *zap.Logger
	metrics    *guard.Metrics
	clientTLS  *tls.Config
	backendTLS *tls.Config
	cancels    *cancelRegistry
	// protect and auditor are what the options gave; guard is built from
	// them once every option has run, and holds what the sessions' guards
	// share.
	protect *guard.Protection
	auditor *audit.Auditor
	guard   *guard.Shared

	// adm caps connections still in startup (admission.go); startupLog
	// rate-limits the log lines of failed startups (startlog.go).
	adm        *admission
	startupLog *logLimiter
	acceptLog  *logLimiter

	mu        sync.Mutex
	ln        net.Listener
	listening bool // from Listen (the kernel queues connections) or Serve, until Serve returns
	sessions  map[*session]struct{}
	active    int
	draining  bool
	quit      chan struct{} // closed when draining starts
	conns     sync.WaitGroup
	// acceptFailing is the Accept error Serve is retrying, nil once an
	// Accept succeeds (ready.go).
	acceptFailing atomic.Pointer[acceptFailure]
}

// New builds a Server from a validated configuration. guard.Metrics are
// registered on reg.
func New(cfg config.Config, log *zap.Logger, reg prometheus.Registerer, opts ...Option) (*Server, error) {
	clientTLS, err := clientTLSConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	backendTLS, err := backendTLSConfig(cfg.Backend)
	if err != nil {
		return nil, err
	}
	metrics := guard.NewMetrics(reg)
	srv := &Server{
		cfg:        cfg,
		log:        log,
		metrics:    metrics,
		clientTLS:  clientTLS,
		backendTLS: backendTLS,
		cancels:    newCancelRegistry(),
		sessions:   make(map[*session]struct{}),
		quit:       make(chan struct{}),
		adm:        newAdmission(cfg.Limits.MaxStartupConnections, cfg.Limits.MaxStartupPerSource, metrics.ConnectionsStarting),
		startupLog: newLogLimiter(log, "failed startups not logged", metrics.StartupLogSuppressed, startupLogBurst, startupLogWindow),
		// Out of descriptors, Accept fails again with nearly every
		// connection that frees one: one line per window says so.
		acceptLog: newLogLimiter(log, "failed accepts not logged", nil, 1, startupLogWindow),
	}
	for _, o := range opts {
		o(srv)
	}
	srv.guard = guard.NewShared(cfg, log, metrics, srv.protect, srv.auditor)
	srv.registerCacheBytes(reg)
	return srv, nil
}

// registerCacheBytes exports what the caches account for, next to their
// budgets (docs/memory.md).
func (srv *Server) registerCacheBytes(reg prometheus.Registerer) {
	for name, bytes := range srv.guard.CacheBytes() {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "phiguard_sqlrewrite_cache_bytes",
			Help:        "Bytes the statement cache accounts for its entries (an upper bound of what they hold), by cache.",
			ConstLabels: prometheus.Labels{"cache": name},
		}, func() float64 { return float64(bytes()) }))
	}
}

// Listen opens the configured listen address.
func (srv *Server) Listen() (net.Listener, error) {
	srv.warnFileLimit()
	ln, err := net.Listen("tcp", srv.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", srv.cfg.Listen, err)
	}
	srv.mu.Lock()
	srv.listening = true
	srv.mu.Unlock()
	return ln, nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// Shutdown, and an error only when ln was closed by someone else: every
// other Accept error (out of file descriptors above all) is counted and
// retried after a pause that doubles from 5 ms to 1 s, as net/http does, so
// a flood of connections can never end the process.
func (srv *Server) Serve(ln net.Listener) error {
	srv.mu.Lock()
	if srv.draining {
		srv.mu.Unlock()
		ln.Close()
		return nil
	}
	srv.ln = ln
	srv.listening = true
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		srv.listening = false
		srv.mu.Unlock()
	}()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		srv.noteAccept(err)
		if err != nil {
			if srv.isDraining() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			srv.acceptFailed(err, delay)
			continue
		}
		delay = 0
		srv.metrics.ConnectionsTotal.Inc()
		if !srv.start(conn) {
			return nil
		}
	}
}

// acceptFailed counts a failed Accept, logs it (rate-limited), and waits
// delay, less when Shutdown begins.
func (srv *Server) acceptFailed(err error, delay time.Duration) {
	srv.metrics.AcceptErrors.WithLabelValues(acceptErrorReason(err)).Inc()
	srv.acceptLog.write(srv.log, zap.ErrorLevel, "accepting connections failed; retrying with backoff",
		zap.Error(err), zap.Duration("delay", delay))
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-srv.quit:
	}
}

// start runs a new connection's startup in its own goroutine, at once when
// a startup slot is free and otherwise after waiting for one (admitLate).
// A connection that cannot even wait is closed. start returns false once
// the server is draining.
func (srv *Server) start(conn net.Conn) bool {
	sl, refusal := srv.adm.enter(conn)
	if refusal != "" && !srv.adm.startWaiting() {
		srv.refuseAtAccept(conn, refusal)
		conn.Close()
		return true
	}
	// Add under the lock that Shutdown takes before it waits, so no
	// connection can slip in after the wait began.
	srv.mu.Lock()
	if srv.draining {
		srv.mu.Unlock()
		if refusal == "" {
			srv.adm.leave(sl)
		} else {
			srv.adm.doneWaiting()
		}
		conn.Close()
		return false
	}
	srv.conns.Add(1)
	srv.mu.Unlock()
	go func() {
		defer srv.conns.Done()
		if refusal != "" {
			srv.admitLate(conn)
			return
		}
		srv.serveConn(conn, nil, sl)
	}()
	return true
}

// serveConn runs the session of a connection that holds a startup slot;
// in, if not nil, holds what was already read from it.
func (srv *Server) serveConn(conn net.Conn, in *bufio.Reader, sl *slot) {
	s := srv.newSession(conn)
	if in != nil {
		s.clientBuf = in
	}
	s.slot = sl
	s.serve(context.Background())
}

func (srv *Server) newSession(conn net.Conn) *session {
	var id [8]byte
	mustRandom(id[:])
	s := &session{srv: srv, id: hex.EncodeToString(id[:]), client: conn}
	s.clientBuf = bufio.NewReaderSize(conn, readBufferSize)
	s.log = srv.log.With(zap.String("session_id", s.id), zap.String("client_addr", conn.RemoteAddr().String()))
	return s
}

// admit registers a session that completed its startup packet, unless the
// connection cap is reached.
func (srv *Server) admit(s *session) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if max := srv.cfg.Limits.MaxConnections; max > 0 && srv.active >= max {
		return false
	}
	srv.active++
	srv.sessions[s] = struct{}{}
	srv.metrics.ConnectionsActive.Inc()
	return true
}

func (srv *Server) release(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.active--
	delete(srv.sessions, s)
	srv.metrics.ConnectionsActive.Dec()
}

func (srv *Server) isDraining() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.draining
}

// Shutdown stops accepting connections, ends each session as soon as it is
// idle, and waits until all have ended or ctx is done; then it closes what
// remains and returns ctx's error.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	if !srv.draining {
		close(srv.quit)
	}
	srv.draining = true
	if srv.ln != nil {
		srv.ln.Close()
	}
	sessions := make([]*session, 0, len(srv.sessions))
	for s := range srv.sessions {
		sessions = append(sessions, s)
	}
	srv.mu.Unlock()
	for _, s := range sessions {
		s.drain()
	}

	done := make(chan struct{})
	go func() { srv.conns.Wait(); close(done) }()
	defer srv.startupLog.stop()
	defer srv.acceptLog.stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	srv.mu.Lock()
	for s := range srv.sessions {
		s.abort(pgerr.Fatal(pgerr.AdminShutdown, "terminating connection because phiguard is shutting down"))
	}
	srv.mu.Unlock()
	select {
	case <-done:
	case <-time.After(abortWriteTimeout + time.Second):
		srv.mu.Lock()
		for s := range srv.sessions {
			s.forceClose()
		}
		srv.mu.Unlock()
		<-done
	}
	return ctx.Err()
}

// Metrics returns the server's collectors.
func (srv *Server) Metrics() *guard.Metrics { return srv.metrics }
