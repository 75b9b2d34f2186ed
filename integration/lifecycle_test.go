package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// backendSessions counts the backend sessions PostgreSQL has for an
// application name, as seen directly.
func backendSessions(t testing.TB, su *pgx.Conn, appName string) int64 {
	t.Helper()
	return queryInt(t, su, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", appName)
}

func TestAbruptClientDisconnect(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	su := superuser(t)
	table := uniqueName("abrupt")
	if _, err := direct(t).Exec(ctx, "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatal(err)
	}
	appName := uniqueName("abrupt_client")
	conn := p.app(t, "application_name", appName)
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if n := backendSessions(t, su, appName); n != 1 {
		t.Fatalf("%d backend sessions before the disconnect, want 1", n)
	}
	var state string
	if err := su.QueryRow(ctx, "SELECT state FROM pg_stat_activity WHERE application_name = $1", appName).Scan(&state); err != nil || state != "idle in transaction" {
		t.Fatalf("backend state %q, %v", state, err)
	}

	// Gone without a Terminate, as when a client process is killed.
	conn.PgConn().Conn().Close()

	waitFor(t, 10*time.Second, "the backend session to end", func() bool { return backendSessions(t, su, appName) == 0 })
	if n := queryInt(t, su, "SELECT count(*) FROM "+table); n != 0 {
		t.Errorf("%d rows: the abandoned transaction was committed", n)
	}
	waitFor(t, 10*time.Second, "phiguard to drop the session", func() bool {
		return p.metric(t, "phiguard_proxy_connections_active") == 0
	})
}

func TestBackendTerminated(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	su := superuser(t)
	bystander := p.app(t)

	t.Run("while idle", func(t *testing.T) {
		victim := dialRaw(t, p.url(appUser, appPassword, appDB))
		pid := victim.PID // the backend's pid, see TestBackendPIDIsConsistent
		var ok bool
		if err := su.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int64(pid)).Scan(&ok); err != nil || !ok {
			t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
		}
		// PostgreSQL's own FATAL reaches the client, then the end.
		victim.expectClosedWith(t, "57P01", 10*time.Second)
	})

	t.Run("mid-query", func(t *testing.T) {
		victim := p.app(t)
		pid := queryInt(t, victim, "SELECT pg_backend_pid()")
		done := make(chan error, 1)
		go func() {
			_, err := victim.Exec(ctx, "SELECT pg_sleep(30)")
			done <- err
		}()
		waitFor(t, 10*time.Second, "the query to start", func() bool {
			return queryInt(t, su, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%' AND state = 'active'", pid) == 1
		})
		if _, err := su.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			wantPgError(t, err, "57P01")
		case <-time.After(10 * time.Second):
			t.Fatal("the client's query did not end when its backend was terminated")
		}
		if !victim.IsClosed() {
			if err := victim.Ping(ctx); err == nil {
				t.Fatal("the connection still works although its backend is gone")
			}
		}
	})

	// phiguard keeps serving everyone else.
	if n := queryInt(t, bystander, "SELECT 7"); n != 7 {
		t.Fatal(n)
	}
	queryInt(t, p.app(t), "SELECT 1")
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	table := uniqueName("drain")
	if _, err := direct(t).Exec(ctx, "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatal(err)
	}

	idle := dialRaw(t, p.url(appUser, appPassword, appDB))
	busy := p.app(t)
	if _, err := busy.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.Exec(ctx, "INSERT INTO "+table+" VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- p.shutdown(t, 20*time.Second) }()

	// The idle session is ended at once, with the SQLSTATE PostgreSQL uses
	// for a server shutdown.
	idle.expectClosedWith(t, "57P01", 10*time.Second)

	// No new sessions.
	waitFor(t, 10*time.Second, "the listener to close", func() bool {
		c, err := pgx.Connect(ctx, p.url(appUser, appPassword, appDB))
		if err == nil {
			c.Close(ctx)
		}
		return err != nil
	})

	// The transaction in progress may finish.
	if _, err := busy.Exec(ctx, "INSERT INTO "+table+" VALUES (2)"); err != nil {
		t.Fatalf("statement in an open transaction during shutdown: %v", err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while a transaction was open", err)
	default:
	}
	if _, err := busy.Exec(ctx, "COMMIT"); err != nil {
		t.Fatalf("COMMIT during shutdown: %v", err)
	}
	// Then the session ends, and with it the shutdown.
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown did not return after the last transaction ended")
	}
	hc, err := busy.PgConn().Hijack()
	if err != nil {
		t.Fatal(err)
	}
	(&rawConn{hc}).expectClosedWith(t, "57P01", 10*time.Second)
	if n := queryInt(t, direct(t), "SELECT count(*) FROM "+table); n != 2 {
		t.Fatalf("%d rows committed, want 2", n)
	}
	if got := p.metric(t, "phiguard_proxy_connections_active"); got != 0 {
		t.Errorf("active connections = %v after shutdown", got)
	}
}

func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	su := superuser(t)
	table := uniqueName("deadline")
	if _, err := direct(t).Exec(ctx, "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatal(err)
	}
	appName := uniqueName("stuck")
	stuck := p.app(t, "application_name", appName)
	if _, err := stuck.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := stuck.Exec(ctx, "INSERT INTO "+table+" VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	err := p.shutdown(t, time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline error while a transaction stays open", err)
	}
	if _, err := stuck.Exec(ctx, "COMMIT"); err == nil {
		t.Fatal("COMMIT succeeded after phiguard closed the session")
	}
	waitFor(t, 10*time.Second, "the backend session to end", func() bool { return backendSessions(t, su, appName) == 0 })
	if n := queryInt(t, su, "SELECT count(*) FROM "+table); n != 0 {
		t.Errorf("%d rows: the cut transaction was committed", n)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	conn := p.app(t, "default_query_exec_mode", "simple_protocol")
	pc := conn.PgConn()
	exec := func(sql string) {
		t.Helper()
		pc.Exec(ctx, sql).ReadAll()
	}

	before := func(name string, labels ...string) float64 { return p.metric(t, name, labels...) }
	selects0 := before("phiguard_proxy_statements_total", "kind", "select")
	hits0 := before("phiguard_sqlrewrite_cache_hits_total")
	misses0 := before("phiguard_sqlrewrite_cache_misses_total")

	table := uniqueName("metrics")
	exec("SELECT 12345")
	exec("SELECT 12345")
	exec("SELECT 12345")
	exec("CREATE TEMP TABLE " + table + " (id int)")
	exec("BEGIN; INSERT INTO " + table + " VALUES (1); COMMIT")
	exec("SELECT 1/0")
	if r := pc.ExecParams(ctx, "SELECT $1::int", [][]byte{[]byte("1")}, nil, nil, nil).Read(); r.Err != nil {
		t.Fatal(r.Err)
	}

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"phiguard_proxy_statements_total", []string{"kind", "select"}, selects0 + 5},
		{"phiguard_proxy_statements_total", []string{"kind", "ddl"}, 1},
		{"phiguard_proxy_statements_total", []string{"kind", "insert"}, 1},
		{"phiguard_proxy_statements_total", []string{"kind", "transaction"}, 2},
		{"phiguard_sqlrewrite_cache_hits_total", nil, hits0 + 2},
		{"phiguard_sqlrewrite_cache_misses_total", nil, misses0 + 5},
		{"phiguard_proxy_errors_total", []string{"sqlstate_class", "22", "source", "backend"}, 1},
		{"phiguard_proxy_connections_active", nil, 1},
		{"phiguard_proxy_connections_total", nil, 1},
	}
	for _, c := range checks {
		if got := p.metric(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := p.metric(t, "phiguard_proxy_statement_duration_seconds"); got < 7 {
		t.Errorf("statement duration observations = %v, want at least 7", got)
	}
	if p.metric(t, "phiguard_proxy_client_to_backend_bytes_total") == 0 || p.metric(t, "phiguard_proxy_backend_to_client_bytes_total") == 0 {
		t.Error("byte counters did not move")
	}
}
