package integration

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
)

// Connection admission against a real PostgreSQL (issue 14, findings 1
// and 8): unauthenticated connections are capped in number, overall and
// per source address, and closed at the startup deadline; the database's
// own "too many clients" is told apart from a failed login.

// dialFrom opens a bare TCP connection to addr from the local IP from
// (Linux routes all of 127/8 to loopback, so 127.0.0.2 is a second host).
func dialFrom(t testing.TB, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.DialContext(testContext(t), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

// trustStartup sends the trust user's StartupMessage and returns the first
// ErrorResponse, or nil when the login reached ReadyForQuery.
func trustStartup(t testing.TB, conn net.Conn) *pgproto3.ErrorResponse {
	t.Helper()
	sendTrustStartup(t, conn)
	return readStartupReply(t, conn)
}

func sendTrustStartup(t testing.TB, conn net.Conn) {
	t.Helper()
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": trustUser, "database": appDB}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
}

func readStartupReply(t testing.TB, conn net.Conn) *pgproto3.ErrorResponse {
	t.Helper()
	fe := pgproto3.NewFrontend(conn, conn)
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("startup: %v", err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return m
		case *pgproto3.ReadyForQuery:
			return nil
		}
	}
}

func wantTooMany(t testing.TB, e *pgproto3.ErrorResponse) {
	t.Helper()
	if e == nil {
		t.Fatal("logged in, want FATAL 53300")
	}
	if e.Severity != "FATAL" || e.Code != "53300" {
		t.Fatalf("got %s %s %q, want FATAL 53300", e.Severity, e.Code, e.Message)
	}
}

// waitClosed waits until phiguard closes conn, failing after within.
func waitClosed(t testing.TB, conn net.Conn, within time.Duration) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(within))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("connection not closed by phiguard within %v: %v", within, err)
	}
}

// TestAdmissionCapsStartupConnections: 20 idle connections against
// limits.max_startup_connections 10. The first 10 take every startup slot;
// the next 10 are answered 53300 to their StartupMessage; once the idle
// ones reach limits.startup_timeout they are closed and a real client logs
// in. Before admission, the 20,000 idle connections of finding 1 were all
// held until the descriptors ran out.
func TestAdmissionCapsStartupConnections(t *testing.T) {
	p := startProxy(t, proxyOptions{quiet: true, configure: func(c *config.Config) {
		c.Limits.MaxStartupConnections = 10
		c.Limits.MaxStartupPerSource = 10
		c.Limits.StartupTimeout = config.Duration(3 * time.Second)
	}})
	idle := make([]net.Conn, 10)
	for i := range idle {
		idle[i] = dialTCP(t, p.addr.String())
	}
	start := time.Now()
	over := make([]net.Conn, 10)
	for i := range over {
		over[i] = dialTCP(t, p.addr.String())
		sendTrustStartup(t, over[i])
	}
	for _, c := range over {
		wantTooMany(t, readStartupReply(t, c))
	}
	for _, c := range idle {
		waitClosed(t, c, 10*time.Second)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("idle connections closed after %v, limits.startup_timeout is 3s", took)
	}
	queryInt(t, p.app(t), "SELECT 1")
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "too_many_starting"); got != 10 {
		t.Errorf("refused{too_many_starting} = %v, want 10", got)
	}
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "startup_timeout"); got != 10 {
		t.Errorf("refused{startup_timeout} = %v, want 10", got)
	}
}

// TestAdmissionAbsorbsABurst: an application opening its whole pool at
// once, far over the startup caps, waits for slots instead of being
// refused: logins through phiguard take milliseconds.
func TestAdmissionAbsorbsABurst(t *testing.T) {
	p := startProxy(t, proxyOptions{quiet: true, configure: func(c *config.Config) {
		c.Limits.MaxStartupConnections = 4
		c.Limits.MaxStartupPerSource = 4
	}})
	const clients = 16
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		go func() {
			ctx := testContext(t)
			conn, err := pgx.Connect(ctx, p.url(appUser, appPassword, appDB))
			if err == nil {
				err = conn.Ping(ctx)
				conn.Close(ctx)
			}
			errs <- err
		}()
	}
	for i := 0; i < clients; i++ {
		if err := <-errs; err != nil {
			t.Errorf("login in a burst of %d against 4 startup slots: %v", clients, err)
		}
	}
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "too_many_starting"); got != 0 {
		t.Errorf("refused{too_many_starting} = %v, want 0", got)
	}
}

// TestAdmissionPerSourceLimit: one address holding its
// limits.max_startup_per_source slots is refused a fifth, while another
// address still logs in.
func TestAdmissionPerSourceLimit(t *testing.T) {
	p := startProxy(t, proxyOptions{quiet: true, configure: func(c *config.Config) {
		c.Limits.MaxStartupConnections = 10
		c.Limits.MaxStartupPerSource = 4
		c.Limits.StartupTimeout = config.Duration(20 * time.Second)
	}})
	for i := 0; i < 4; i++ {
		dialFrom(t, "127.0.0.1", p.addr.String())
	}
	wantTooMany(t, trustStartup(t, dialFrom(t, "127.0.0.1", p.addr.String())))

	cfg := parseConfig(t, p.url(appUser, appPassword, appDB))
	other := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	cfg.DialFunc = other.DialContext
	queryInt(t, connectConfig(t, cfg), "SELECT 1")
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "too_many_from_source"); got != 1 {
		t.Errorf("refused{too_many_from_source} = %v, want 1", got)
	}
}

// TestBackendTooManyClientsIsNotAuthFailure: PostgreSQL's own 53300 (here a
// role's CONNECTION LIMIT) reaches the client as 53300 and is counted as
// backend_too_many, not auth_failed (finding 8).
func TestBackendTooManyClientsIsNotAuthFailure(t *testing.T) {
	ctx := testContext(t)
	if err := pg.Exec(ctx, `CREATE ROLE capped_user LOGIN PASSWORD 'capped-pw' CONNECTION LIMIT 0`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Exec(context.Background(), `DROP ROLE capped_user`) })
	p := startProxy(t, proxyOptions{quiet: true})
	conn, err := pgx.Connect(ctx, p.url("capped_user", "capped-pw", appDB))
	if err == nil {
		conn.Close(ctx)
		t.Fatal("connected past the role's CONNECTION LIMIT 0")
	}
	wantPgError(t, err, "53300")
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "backend_too_many"); got != 1 {
		t.Errorf("refused{backend_too_many} = %v, want 1", got)
	}
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "auth_failed"); got != 0 {
		t.Errorf("refused{auth_failed} = %v, want 0", got)
	}
}
