package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestShutdownMidCopy (issue 14, finding 6): a client still sending COPY
// data when the shutdown deadline passes gets FATAL 57P01, not a bare
// disconnect, and the COPY has an audit record saying it was interrupted.
func TestShutdownMidCopy(t *testing.T) {
	t.Parallel()
	a, sink := breakableAuditor(t)
	p := startProxy(t, proxyOptions{auditor: a})
	ctx := testContext(t)
	table := uniqueName("copy_cut")
	if _, err := direct(t).Exec(ctx, "CREATE TABLE "+table+" (id int, note text)"); err != nil {
		t.Fatal(err)
	}
	conn := p.app(t)
	rows, sent := io.Pipe()
	defer sent.Close()
	copied := make(chan error, 1)
	go func() {
		_, err := conn.PgConn().CopyFrom(ctx, rows, "COPY "+table+" FROM STDIN")
		copied <- err
	}()
	for i := 0; i < 100; i++ {
		fmt.Fprintf(sent, "%d\tnote %d\n", i, i)
	}
	su := superuser(t)
	waitFor(t, 10*time.Second, "the COPY to run in PostgreSQL", func() bool {
		return queryInt(t, su, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY "+table+"%'") == 1
	})

	if err := p.shutdown(t, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline error while a COPY runs", err)
	}
	var err error
	select {
	case err = <-copied:
	case <-time.After(10 * time.Second):
		sent.CloseWithError(errors.New("test gave up"))
		t.Fatal("the COPY did not end after the shutdown deadline")
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P01" {
		t.Fatalf("the client in COPY got %v, want FATAL 57P01", err)
	}

	waitFor(t, 10*time.Second, "the COPY's audit record", func() bool { return len(sink.statements("COPY")) > 0 })
	rec := sink.statements("COPY")[0]
	if rec["outcome"] != "interrupted" || rec["sqlstate"] != "57P01" || !strings.Contains(fmt.Sprint(rec["sql"]), table) {
		t.Fatalf("the COPY's record: %v", rec)
	}
}

// TestCutOffStatementsAudited (issue 14, finding 6): a statement whose
// client leaves before it ends, and one whose backend is terminated while
// it runs, each have an audit record.
func TestCutOffStatementsAudited(t *testing.T) {
	t.Parallel()
	a, sink := breakableAuditor(t)
	p := startProxy(t, proxyOptions{auditor: a})
	ctx := testContext(t)
	su := superuser(t)

	// The client leaves mid-statement.
	left := p.app(t)
	sleeper := uniqueName("left")
	// Sent by hand and the socket closed under it: pgx itself would send
	// a CancelRequest first.
	left.PgConn().Frontend().Send(&pgproto3.Query{String: "SELECT pg_sleep(3) AS " + sleeper})
	if err := left.PgConn().Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the statement to run", func() bool {
		return queryInt(t, su, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%AS "+sleeper+"'") == 1
	})
	left.PgConn().Conn().Close()
	defer func() {
		if t.Failed() {
			sink.mu.Lock()
			for _, l := range sink.lines {
				t.Logf("audit: %s", l)
			}
			sink.mu.Unlock()
		}
	}()
	waitFor(t, 10*time.Second, "the record of the statement whose client left", func() bool {
		return len(sink.statements("SELECT pg_sleep($1) AS "+sleeper)) > 0
	})
	if rec := sink.statements("SELECT pg_sleep($1) AS " + sleeper)[0]; rec["outcome"] != "interrupted" || rec["sqlstate"] != "08006" {
		t.Errorf("client left: record %v, want outcome interrupted, 08006", rec)
	}

	// The backend is terminated mid-statement.
	cut := p.app(t)
	victim := uniqueName("cut")
	done := make(chan error, 1)
	go func() {
		_, err := cut.Exec(ctx, "SELECT pg_sleep(30) AS "+victim, pgx.QueryExecModeSimpleProtocol)
		done <- err
	}()
	waitFor(t, 10*time.Second, "the statement to run", func() bool {
		return queryInt(t, su, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%AS "+victim+"'") == 1
	})
	if _, err := su.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS "+victim+"'"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("the statement succeeded although its backend was terminated")
	}
	waitFor(t, 10*time.Second, "the record of the statement whose backend was terminated", func() bool {
		return len(sink.statements("SELECT pg_sleep($1) AS "+victim)) > 0
	})
	if rec := sink.statements("SELECT pg_sleep($1) AS " + victim)[0]; rec["sqlstate"] != "57P01" {
		t.Errorf("backend terminated: record %v, want sqlstate 57P01", rec)
	}
}
