package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"go.uber.org/zap"
)

// login dials the backend, sends it the client's StartupMessage and relays
// authentication up to the first ReadyForQuery. The backend leg has
// backend.auth_timeout for all of it; the client leg keeps the
// limits.startup_timeout set at accept. It reports whether the session may
// start; when not, the client has been told why (or has left).
func (s *session) login(ctx context.Context, hello *clientHello) bool {
	backend, err := s.srv.dialBackend(ctx)
	if err != nil {
		s.srv.startupLog.write(s.log, zap.ErrorLevel, "backend unreachable", zap.Error(err))
		s.refuse("backend_unreachable", pgerr.Fatal(pgerr.ConnectionFailure, "phiguard cannot reach the database backend"))
		return false
	}
	s.mu.Lock()
	s.backend = backend
	s.mu.Unlock()
	if tc, ok := backend.(*tls.Conn); ok {
		st := tc.ConnectionState()
		s.backendTLS = &st
	}
	backend.SetDeadline(time.Now().Add(s.srv.cfg.Backend.AuthTimeout.Std()))
	leg := &backendLeg{Conn: backend, login: true}
	s.cr = pgwire.ReaderOver(s.clientBuf, s.srv.cfg.Limits.MaxMessageBytes)
	s.cw = bufio.NewWriterSize(s.client, writeBufferSize)
	s.br = pgwire.NewMsgReader(leg, readBufferSize, s.srv.cfg.Limits.MaxMessageBytes)
	s.bw = bufio.NewWriterSize(leg, writeBufferSize)
	s.g.Connect(s.cr, s.br, s.cw, s.bw, s)
	if _, err := s.bw.Write(hello.raw); err != nil || s.flushBackend() != nil {
		s.refuse("backend_unreachable", pgerr.Fatal(pgerr.ConnectionFailure, "phiguard lost the database backend during startup"))
		return false
	}
	failed, err := s.relayAuth()
	leg.login = false // the pumps, started after this, see the backend's errors as they are
	var lost *backendError
	switch {
	case failed:
		s.rejectedByDatabase()
	case errors.As(err, &lost):
		s.backendLostInLogin(lost)
	case err != nil:
		s.refuse("protocol", err)
	}
	return !failed && err == nil
}

// rejectedByDatabase counts and records a login the backend refused. Its
// ErrorResponse has already reached the client as it was. A database
// that is full (53300) or not accepting connections (57P03: starting up,
// shutting down, in recovery) refused no credentials: counting those as
// failed logins would hide a full or restarting database behind what
// looks like password guessing.
func (s *session) rejectedByDatabase() {
	reason, auditReason := "auth_failed", "rejected_by_database"
	if r, ok := databaseRefusals[pgerr.Code(s.authSQLState)]; ok {
		reason, auditReason = r.metric, r.audit
	}
	s.srv.metrics.ConnectionsRefused.WithLabelValues(reason).Inc()
	s.srv.startupLog.write(s.log, zap.InfoLevel, "login refused by the database", zap.String("reason", reason), zap.String("sqlstate", s.authSQLState))
	s.g.Record(&audit.AuthFailure{Session: s.g.LoginInfo(), Reason: auditReason, SQLState: s.authSQLState})
}

// databaseRefusals names the logins a backend refused for a reason of its
// own, by SQLSTATE: the metric's reason and the audit record's.
var databaseRefusals = map[pgerr.Code]struct{ metric, audit string }{
	pgerr.TooManyConnections: {"backend_too_many", "database_too_many_clients"},
	pgerr.CannotConnectNow:   {"backend_not_accepting", "database_not_accepting_connections"},
}

// backendLostInLogin tells the client that the backend, not the client,
// ended its login: it hung past backend.auth_timeout or went away.
func (s *session) backendLostInLogin(lost *backendError) {
	if isTimeout(lost.err) {
		s.srv.startupLog.write(s.log, zap.WarnLevel, "backend did not complete the login in time",
			zap.Duration("auth_timeout", s.srv.cfg.Backend.AuthTimeout.Std()))
		s.refuse("backend_auth_timeout", pgerr.Fatal(pgerr.ConnectionFailure,
			"the database did not complete the login within backend.auth_timeout ("+s.srv.cfg.Backend.AuthTimeout.Std().String()+")"))
		return
	}
	s.srv.startupLog.write(s.log, zap.WarnLevel, "backend lost during login", zap.Error(lost.err))
	s.refuse("backend_unreachable", pgerr.Fatal(pgerr.ConnectionFailure, "phiguard lost the database backend during login"))
}

// leaveStartup gives back the session's startup slot, once.
func (s *session) leaveStartup() {
	if s.slot != nil {
		s.srv.adm.leave(s.slot)
		s.slot = nil
	}
}

// backendLeg tags the errors of the backend connection while login is
// set, so that a backend hanging or failing during authentication is told
// apart from a client doing so: each gets its own answer. Only the session
// goroutine sets login, before the pumps start.
type backendLeg struct {
	net.Conn
	login bool
}

func (b *backendLeg) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	if err != nil && b.login {
		err = &backendError{err}
	}
	return n, err
}

func (b *backendLeg) Write(p []byte) (int, error) {
	n, err := b.Conn.Write(p)
	if err != nil && b.login {
		err = &backendError{err}
	}
	return n, err
}

// backendError is an I/O error of the backend connection during login.
type backendError struct{ err error }

func (e *backendError) Error() string { return "backend: " + e.err.Error() }
func (e *backendError) Unwrap() error { return e.err }

// isTimeout reports whether err is a deadline passing (a connection's or a
// context's).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}
