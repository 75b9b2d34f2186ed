package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
)

// What /readyz asks of the wire: would a client connecting now be
// served? Each answer that says no matches (errors.Is) one of these, so
// that the caller can name the reason without reading messages.
var (
	// ErrShuttingDown: Shutdown has begun; new connections get 57P03.
	ErrShuttingDown = errors.New("shutting down")
	// ErrNotListening: no Listen or Serve yet, Serve has returned, or
	// its Accept is failing (out of file descriptors, say).
	ErrNotListening = errors.New("not accepting connections")
	// ErrAtCapacity: limits.max_connections sessions are open; the next
	// client gets 53300.
	ErrAtCapacity = errors.New("at limits.max_connections")
	// ErrBackendUnreachable: the backend cannot be dialed, its TLS fails,
	// or it does not answer a StartupMessage in time.
	ErrBackendUnreachable = errors.New("backend unreachable")
)

// BackendRefusal is the backend's ErrorResponse to the readiness probe's
// StartupMessage, sent before authentication: every client would get the
// same (57P03 while starting, stopping or in recovery; 53300 when full).
type BackendRefusal struct {
	Code    pgerr.Code
	Message string // PostgreSQL's own words, for the log
}

func (e *BackendRefusal) Error() string {
	return "backend refuses new sessions: " + e.Message + " (SQLSTATE " + string(e.Code) + ")"
}

// acceptFailure is an Accept error Serve keeps retrying.
type acceptFailure struct {
	err   error
	since time.Time
}

// CheckListener reports whether Serve accepts new clients: not shutting
// down, running on its listener with Accept succeeding, and below
// limits.max_connections.
func (srv *Server) CheckListener() error {
	srv.mu.Lock()
	draining, listening, active := srv.draining, srv.listening, srv.active
	srv.mu.Unlock()
	switch {
	case draining:
		return ErrShuttingDown
	case !listening:
		return fmt.Errorf("%w: the accept loop is not running", ErrNotListening)
	}
	if f := srv.acceptFailing.Load(); f != nil {
		return fmt.Errorf("%w: accept failing since %s: %w", ErrNotListening, f.since.UTC().Format(time.RFC3339), f.err)
	}
	if m := srv.cfg.Limits.MaxConnections; m > 0 && active >= m {
		return fmt.Errorf("%w (%d sessions)", ErrAtCapacity, active)
	}
	return nil
}

// noteAccept records how the latest Accept went, for CheckListener.
func (srv *Server) noteAccept(err error) {
	if err == nil {
		if srv.acceptFailing.Load() != nil {
			srv.acceptFailing.Store(nil)
		}
		return
	}
	if srv.acceptFailing.Load() == nil {
		srv.acceptFailing.Store(&acceptFailure{err: err, since: time.Now()})
	}
}

// CheckBackend reports whether the backend would take a new session: it
// dials (with TLS when configured), sends a StartupMessage for
// backend.probe_user and reads the first answer. An authentication
// request means the postmaster accepts logins; the probe hangs up there,
// so it needs no password (PostgreSQL logs nothing for a client that
// leaves at the password prompt). An ErrorResponse before authentication
// is a *BackendRefusal, except for the login errors of the probe's own
// role and database (28xxx, 3D000), which come after the postmaster
// decided to accept connections. No answer within the context's deadline
// (a postmaster stopped with SIGSTOP still completes TCP handshakes) is
// ErrBackendUnreachable.
func (srv *Server) CheckBackend(ctx context.Context) error {
	conn, err := srv.dialBackend(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBackendUnreachable, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(srv.cfg.Backend.ConnectTimeout.Std())
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	if _, err := conn.Write(probeStartup(srv.cfg.Backend.ProbeUser)); err != nil {
		return fmt.Errorf("%w: send the probe's StartupMessage: %w", ErrBackendUnreachable, err)
	}
	return readProbeAnswer(conn)
}

// probeStartup is a protocol 3.0 StartupMessage for user on database
// postgres, named in pg_stat_activity and the server log as the probe.
func probeStartup(user string) []byte {
	var body []byte
	body = binary.BigEndian.AppendUint32(body, 3<<16)
	for _, kv := range [][2]string{{"user", user}, {"database", "postgres"}, {"application_name", "phiguard readiness probe"}} {
		body = append(append(body, kv[0]...), 0)
		body = append(append(body, kv[1]...), 0)
	}
	body = append(body, 0)
	return append(binary.BigEndian.AppendUint32(nil, uint32(4+len(body))), body...)
}

// maxProbeAnswer bounds the first message the probe reads: an
// authentication request or an ErrorResponse is far smaller.
const maxProbeAnswer = 16 << 10

func readProbeAnswer(conn net.Conn) error {
	r := pgwire.NewMsgReader(conn, 1024, maxProbeAnswer)
	typ, _, err := r.Next()
	if err != nil {
		return fmt.Errorf("%w: reading the answer to the probe's StartupMessage: %w", ErrBackendUnreachable, err)
	}
	switch typ {
	case 'R': // AuthenticationRequest (or AuthenticationOk under trust)
		return nil
	case 'E':
		body, err := r.Body()
		if err != nil {
			return fmt.Errorf("%w: reading the backend's answer: %w", ErrBackendUnreachable, err)
		}
		return probeRefusal(body)
	}
	return fmt.Errorf("%w: the backend answered the probe's StartupMessage with message %q", ErrBackendUnreachable, typ)
}

// probeRefusal classifies an ErrorResponse to the probe.
func probeRefusal(body []byte) error {
	code, _ := pgwire.ErrorField(body, 'C')
	msg, _ := pgwire.ErrorField(body, 'M')
	c := pgerr.Code(code)
	// invalid_authorization_specification and invalid_password (28xxx),
	// invalid_catalog_name (3D000): the probe's own role or database,
	// after the postmaster took the login.
	if c.Class() == "28" || c == pgerr.InvalidCatalogName {
		return nil
	}
	return &BackendRefusal{Code: c, Message: string(msg)}
}
