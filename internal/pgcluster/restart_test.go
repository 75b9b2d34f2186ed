package pgcluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRestart: a restart keeps the port, the data and the settings; a
// session open across it is ended with 57P01 (fast shutdown), and a new one
// connects at once; Restart after Stop says so.
func TestRestart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c, err := Start(ctx, Options{Settings: map[string]string{"max_connections": "37"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if err := c.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')"); err != nil {
		t.Fatal(err)
	}
	url := c.URL(c.Superuser, c.Password, "postgres")
	old := connect(t, url)
	port, pid := c.Port, c.Pid()

	for i := 1; i <= 2; i++ {
		if err := c.Restart(ctx); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		if c.Port != port {
			t.Fatalf("restart %d moved the port from %d to %d", i, port, c.Port)
		}
		if p := c.Pid(); p == 0 || p == pid {
			t.Fatalf("restart %d: postmaster pid %d, was %d", i, p, pid)
		}
		pid = c.Pid()
		conn := connect(t, url)
		if got := queryString(t, conn, "SELECT string_agg(v, ',') FROM kept"); got != "before" {
			t.Fatalf("after restart %d the table holds %q", i, got)
		}
		if got := queryString(t, conn, "SHOW max_connections"); got != "37" {
			t.Fatalf("after restart %d max_connections is %s: the settings were lost", i, got)
		}
	}

	var one int
	err = old.QueryRow(ctx, "SELECT 1").Scan(&one)
	var pgErr *pgconn.PgError
	if err == nil || (errors.As(err, &pgErr) && pgErr.Code != "57P01") {
		t.Fatalf("a session open across the restart: %v, want 57P01 or a closed connection", err)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("Restart after Stop: %v, want ErrStopped", err)
	}
	if c.Pid() != 0 {
		t.Fatal("a postmaster runs after Stop")
	}
	if _, err := pgx.Connect(context.Background(), url); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("connect after Stop: %v", err)
	}
}
