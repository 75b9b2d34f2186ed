package proxy

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Server accepts client connections and runs a session for each.
type Server struct {
	cfg        config.Config
	log        *zap.Logger
	metrics    *Metrics
	analyzer   *sqlrewrite.Analyzer
	parseGate  *parseGate
	clientTLS  *tls.Config
	backendTLS *tls.Config
	cancels    *cancelRegistry
	protect    *Protection // nil: pure passthrough
	auditor    *audit.Auditor
	// accessCache keeps access rewrites; objects the latest Objects read
	// per database, shared by its sessions.
	accessCache *sqlrewrite.AccessCache
	objMu       sync.Mutex
	objects     map[string]*Objects
	// accessFor replaces accessCache.For in tests of the proxy's side of
	// access control, independent of the rewriter's own rules.
	accessFor func(sql string, a *sqlrewrite.Analysis, pol *policy.Policy, role *policy.Role, objs sqlrewrite.Objects, breakGlass bool) *sqlrewrite.Access

	mu       sync.Mutex
	ln       net.Listener
	sessions map[*session]struct{}
	active   int
	draining bool
	conns    sync.WaitGroup
}

// New builds a Server from a validated configuration. Metrics are
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
	srv := &Server{
		cfg:         cfg,
		log:         log,
		metrics:     NewMetrics(reg),
		analyzer:    sqlrewrite.NewAnalyzer(cfg.Limits.ParseCacheEntries, cfg.Limits.ParseCacheBytes),
		accessCache: sqlrewrite.NewAccessCache(cfg.Limits.ParseCacheEntries, cfg.Limits.RewriteCacheBytes),
		clientTLS:   clientTLS,
		backendTLS:  backendTLS,
		cancels:     newCancelRegistry(),
		sessions:    make(map[*session]struct{}),
	}
	srv.parseGate = newParseGate(cfg.Limits.ParseInflightBytes, srv.metrics.ParseGateWaits.Inc)
	srv.registerCacheBytes(reg)
	for _, o := range opts {
		o(srv)
	}
	return srv, nil
}

// registerCacheBytes exports what the caches account for, next to their
// budgets (docs/memory.md).
func (srv *Server) registerCacheBytes(reg prometheus.Registerer) {
	for name, bytes := range map[string]func() int64{"parse": srv.analyzer.Bytes, "rewrite": srv.accessCache.Bytes} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "phiguard_sqlrewrite_cache_bytes",
			Help:        "Bytes the statement cache accounts for its entries (an upper bound of what they hold), by cache.",
			ConstLabels: prometheus.Labels{"cache": name},
		}, func() float64 { return float64(bytes()) }))
	}
}

// Listen opens the configured listen address.
func (srv *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", srv.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", srv.cfg.Listen, err)
	}
	return ln, nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// Shutdown and the accept error otherwise.
func (srv *Server) Serve(ln net.Listener) error {
	srv.mu.Lock()
	if srv.draining {
		srv.mu.Unlock()
		ln.Close()
		return nil
	}
	srv.ln = ln
	srv.mu.Unlock()
	var tempDelay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if srv.isDraining() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			return err
		}
		tempDelay = 0
		srv.metrics.ConnectionsTotal.Inc()
		// Add under the lock that Shutdown takes before it waits, so no
		// connection can slip in after the wait began.
		srv.mu.Lock()
		if srv.draining {
			srv.mu.Unlock()
			conn.Close()
			return nil
		}
		srv.conns.Add(1)
		srv.mu.Unlock()
		go func() {
			defer srv.conns.Done()
			srv.newSession(conn).serve(context.Background())
		}()
	}
}

func (srv *Server) newSession(conn net.Conn) *session {
	var id [8]byte
	mustRandom(id[:])
	s := &session{srv: srv, id: hex.EncodeToString(id[:]), client: conn}
	s.clientBuf = newMsgReader(conn, readBufferSize, 0).br
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
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	srv.mu.Lock()
	for s := range srv.sessions {
		s.forceClose()
	}
	srv.mu.Unlock()
	<-done
	return ctx.Err()
}

// Metrics returns the server's collectors.
func (srv *Server) Metrics() *Metrics { return srv.metrics }
