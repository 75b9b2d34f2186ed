package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
)

// A named statement whose re-prepare phiguard refused (guard/reprepare.go):
// phiguard's Close ran and its re-Parse failed, so the backend no longer
// holds the statement, where plain PostgreSQL still does (it re-plans the
// statement at its next execution). phiguard prepares it again at its
// next Bind, but did so only once every earlier request was answered
// outside an aborted transaction (settledOutsideFailedTx); otherwise it
// bound the old name, and PostgreSQL answered 26000 (prepared statement
// does not exist): behind a pipelined segment not yet answered, inside
// a transaction block an error aborted (PostgreSQL answers 25P02), and,
// once in 8 runs of TestRedTeam32bJudgeAddedAfterRead, right after the
// previous ReadyForQuery reached the client but before phiguard's
// backend pump counted it answered.

// rt35Refused prepares a named INSERT, has another session add a CHECK
// over the encrypted column the judges guard meets, and runs the INSERT
// until phiguard has refused its re-prepare; it returns the statement's
// name and the CHECK's.
func rt35Refused(t *testing.T) (su, app *pgconn.PgConn, enc, name, judge string) {
	t.Helper()
	ctx := testContext(t)
	suConn, appConn, enc := rt31cProxy(t, func(c *config.Config) { c.Limits.JudgesGuard = true })
	su, app, name, judge = suConn.PgConn(), appConn.PgConn(), "rt35_ins", enc+"_c"
	if _, err := app.Prepare(ctx, name, "INSERT INTO "+enc+" (id, s) VALUES ($1, $2)", nil); err != nil {
		t.Fatal(err)
	}
	if err := su.Exec(ctx, "ALTER TABLE "+enc+" ADD CONSTRAINT "+judge+" CHECK (length(s) > 10)").Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt35Exec(t, app, name); rt4Code(err) != "40001" {
		t.Fatalf("first execution after the CHECK: %v, want the judges guard's 40001", err)
	}
	rt33bRefused(t, "the re-prepare", rt35Exec(t, app, name), judge)
	// The re-prepare's Close ran: the backend has no statement of the name.
	res := app.ExecParams(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE name = $1", [][]byte{[]byte(name)}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "0" {
		t.Fatalf("pg_prepared_statements after the refused re-prepare: %v %v, want 0", res.Rows, res.Err)
	}
	return su, app, enc, name, judge
}

func rt35Exec(t *testing.T, c *pgconn.PgConn, name string) error {
	t.Helper()
	return c.ExecPrepared(testContext(t), name, [][]byte{[]byte("9"), []byte("abc")}, nil, nil).Read().Err
}

// rt35Stored fails unless the table holds the one row rt31cProxy wrote.
func rt35Stored(t *testing.T, su *pgconn.PgConn, enc, what string) {
	t.Helper()
	res := su.ExecParams(testContext(t), "SELECT count(*) FROM "+enc, nil, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "1" {
		t.Fatalf("%s: %v rows (%v), where the plaintext database stores none but 'secret'", what, res.Rows, res.Err)
	}
}

// TestReprepareRefusedThenPipelined: the next Bind of the statement
// comes in a segment the client pipelined behind one still running
// (SELECT pg_sleep(0.3)). PostgreSQL would run the statement and meet
// the CHECK (23514); phiguard must prepare it again and refuse it
// (0A000 naming the CHECK), not bind a name the backend lacks (26000).
// Then the same behind a segment that is itself the statement's refused
// re-prepare.
func TestReprepareRefusedThenPipelined(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc, name, judge := rt35Refused(t)
	params := [][]byte{[]byte("9"), []byte("abc")}
	for _, first := range []string{"sleep", "statement"} {
		pl := app.StartPipeline(ctx)
		if first == "sleep" {
			pl.SendQueryParams("SELECT pg_sleep(0.3)", nil, nil, nil, nil)
		} else {
			pl.SendQueryPrepared(name, params, nil, nil)
		}
		pl.SendPipelineSync()
		pl.SendQueryPrepared(name, params, nil, nil)
		if err := pl.Sync(); err != nil {
			t.Fatal(err)
		}
		for seg := 1; seg <= 2; seg++ {
			res, err := pl.GetResults()
			if rr, ok := res.(*pgconn.ResultReader); ok {
				err = rr.Read().Err
			}
			what := first + " then the statement, segment " + string(rune('0'+seg))
			if seg == 1 && first == "sleep" {
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			} else {
				rt33bRefused(t, what, err, judge)
			}
			if res, err := pl.GetResults(); err != nil {
				t.Fatalf("%s's Sync: %v", what, err)
			} else if _, ok := res.(*pgconn.PipelineSync); !ok {
				t.Fatalf("%s: %T where its Sync's answer belongs", what, res)
			}
		}
		if err := pl.Close(); err != nil {
			t.Fatal(err)
		}
		rt35Stored(t, su, enc, first)
	}
	rt35DropCheck(t, su, app, enc)
	rt35Runs(t, su, app, enc, name)
}

// TestReprepareRefusedThenAbortedTransaction: the next Bind comes in a
// transaction block an error aborted. PostgreSQL answers 25P02 (it has
// the statement); phiguard answered 26000, and answers its refusal of
// the statement now (0A000 naming the CHECK). After the ROLLBACK it is
// refused again; once the CHECK is gone, an aborted transaction answers
// 25P02 as PostgreSQL does, and after the ROLLBACK it runs.
func TestReprepareRefusedThenAbortedTransaction(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc, name, judge := rt35Refused(t)
	if err := app.Exec(ctx, "BEGIN").Close(); err != nil {
		t.Fatal(err)
	}
	if err := app.Exec(ctx, "SELECT 1/0").Close(); rt4Code(err) != "22012" {
		t.Fatalf("SELECT 1/0: %v", err)
	}
	for i := range 2 {
		// phiguard's refusal of the re-Parse comes first: PostgreSQL
		// parses a text before it refuses it in an aborted transaction.
		if err := rt35Exec(t, app, name); rt4Code(err) != "25P02" && (rt4Code(err) != "0A000" || !strings.Contains(err.Error(), judge)) {
			t.Fatalf("in the aborted transaction, execution %d: %v, want PostgreSQL's 25P02 or phiguard's 0A000 naming %s", i+1, err, judge)
		}
	}
	if err := app.Exec(ctx, "ROLLBACK").Close(); err != nil {
		t.Fatal(err)
	}
	rt33bRefused(t, "after the ROLLBACK", rt35Exec(t, app, name), judge)
	rt35Stored(t, su, enc, "after the ROLLBACK")
	// With the CHECK gone and read, phiguard's re-Parse is PostgreSQL's
	// to answer: 25P02 in an aborted transaction, as its Bind of the
	// statement it still holds would.
	rt35DropCheck(t, su, app, enc)
	for _, q := range []string{"BEGIN", "SELECT 1/0"} {
		if err := app.Exec(ctx, q).Close(); err != nil && q == "BEGIN" {
			t.Fatal(err)
		}
	}
	if err := rt35Exec(t, app, name); rt4Code(err) != "25P02" {
		t.Fatalf("in an aborted transaction with the CHECK gone: %v, want PostgreSQL's 25P02", err)
	}
	if err := app.Exec(ctx, "ROLLBACK").Close(); err != nil {
		t.Fatal(err)
	}
	rt35Stored(t, su, enc, "in the aborted transaction")
	rt35Runs(t, su, app, enc, name)
}

// rt35DropCheck drops the CHECK and has the session read its catalog.
func rt35DropCheck(t *testing.T, su, app *pgconn.PgConn, enc string) {
	t.Helper()
	ctx := testContext(t)
	if err := su.Exec(ctx, "ALTER TABLE "+enc+" DROP CONSTRAINT "+enc+"_c").Close(); err != nil {
		t.Fatal(err)
	}
	if err := app.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS rt35_read (a int)").Close(); err != nil { // a catalog read
		t.Fatal(err)
	}
}

// rt35Runs runs the statement, which PostgreSQL would run with the
// CHECK gone: it is prepared again and stores its row, encrypted.
func rt35Runs(t *testing.T, su, app *pgconn.PgConn, enc, name string) {
	t.Helper()
	ctx := testContext(t)
	if err := rt35Exec(t, app, name); err != nil {
		t.Fatalf("with the CHECK dropped: %v, where PostgreSQL runs the statement", err)
	}
	res := su.ExecParams(ctx, "SELECT count(*) FROM "+enc+" WHERE id = 9 AND s <> 'abc'", nil, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "1" {
		t.Fatalf("the row it wrote: %v (%v), want one, encrypted", res.Rows, res.Err)
	}
	got := app.ExecParams(ctx, "SELECT s FROM "+enc+" WHERE id = 9", nil, nil, nil, nil).Read()
	if got.Err != nil || len(got.Rows) != 1 || !strings.EqualFold(string(got.Rows[0][0]), "abc") {
		t.Fatalf("read back through phiguard: %v (%v), want abc", got.Rows, got.Err)
	}
}

// TestReprepareAfterDeallocate: a statement whose guard failed (40001)
// and that the client then deallocates (SQL DEALLOCATE, DEALLOCATE ALL,
// DISCARD ALL) is gone in PostgreSQL, whose Bind of its name answers
// 26000; phiguard must not prepare it again at that Bind and run it.
func TestReprepareAfterDeallocate(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	suConn, appConn, enc := rt31cProxy(t, func(c *config.Config) { c.Limits.JudgesGuard = true })
	su, app := suConn.PgConn(), appConn.PgConn()
	for i, dealloc := range []string{"DEALLOCATE rt35_d0", "DEALLOCATE ALL", "DISCARD ALL", "DEALLOCATE PREPARE rt35_d3"} {
		name := "rt35_d" + string(rune('0'+i))
		if _, err := app.Prepare(ctx, name, "INSERT INTO "+enc+" (id, s) VALUES ($1, $2)", nil); err != nil {
			t.Fatal(err)
		}
		if err := su.Exec(ctx, "ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_c CHECK (length(s) > 10)").Close(); err != nil {
			t.Fatal(err)
		}
		if err := rt35Exec(t, app, name); rt4Code(err) != "40001" {
			t.Fatalf("%s: first execution after the CHECK: %v, want the judges guard's 40001", name, err)
		}
		rt35DropCheck(t, su, app, enc)
		if err := app.Exec(ctx, dealloc).Close(); err != nil {
			t.Fatalf("%s: %v", dealloc, err)
		}
		if err := rt35Exec(t, app, name); rt4Code(err) != "26000" {
			t.Fatalf("%s after %s: %v, want PostgreSQL's 26000", name, dealloc, err)
		}
		rt35Stored(t, su, enc, name+" after "+dealloc)
	}
}
