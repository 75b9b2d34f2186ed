package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
)

// A named statement phiguard prepares again after its guard failed
// (guard/reprepare.go): phiguard Closes it and Parses the client's text
// again. When that Parse failed, the backend no longer held the
// statement, where plain PostgreSQL still does (it re-plans the
// statement at each execution). phiguard prepares it again at its next
// Bind, but did so only once every earlier request was answered outside
// an aborted transaction (settledOutsideFailedTx); otherwise it bound the
// old name, and PostgreSQL answered 26000 (prepared statement does not
// exist): behind a pipelined segment not yet answered, inside a
// transaction block an error aborted (PostgreSQL answers 25P02), and,
// once in 8 runs of TestRedTeam32bJudgeAddedAfterRead, right after the
// previous ReadyForQuery reached the client but before phiguard's
// backend pump counted it answered. When phiguard itself refuses the
// Parse, the backend keeps the old statement now (an SQL DEALLOCATE or a
// Describe of it answered 26000 too); when the backend fails it, the
// backend keeps it too now (phiguard tries the text under a name of its
// own first), and the statement is prepared again at every settled Bind.

// rt35Prepared starts a proxy with the judges guard on and prepares a
// named INSERT through it.
func rt35Prepared(t *testing.T) (su, app *pgconn.PgConn, enc, name string) {
	t.Helper()
	suConn, appConn, enc := rt31cProxy(t, func(c *config.Config) { c.Limits.JudgesGuard = true })
	su, app, name = suConn.PgConn(), appConn.PgConn(), "rt35_ins"
	if _, err := app.Prepare(testContext(t), name, "INSERT INTO "+enc+" (id, s) VALUES ($1, $2)", nil); err != nil {
		t.Fatal(err)
	}
	return su, app, enc, name
}

// reprepareRefusedSetup prepares a named INSERT, has another session add a CHECK
// over the encrypted column the judges guard meets, and runs the INSERT
// until phiguard has refused its re-prepare; it returns the statement's
// name and the CHECK's. The backend keeps the statement.
func reprepareRefusedSetup(t *testing.T) (su, app *pgconn.PgConn, enc, name, judge string) {
	t.Helper()
	ctx := testContext(t)
	su, app, enc, name = rt35Prepared(t)
	judge = enc + "_c"
	if err := su.Exec(ctx, "ALTER TABLE "+enc+" ADD CONSTRAINT "+judge+" CHECK (length(s) > 10)").Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt35Exec(t, app, name); rt4Code(err) != "40001" {
		t.Fatalf("first execution after the CHECK: %v, want the judges guard's 40001", err)
	}
	rt33bRefused(t, "the re-prepare", rt35Exec(t, app, name), judge)
	rt35Held(t, app, name, "1")
	return su, app, enc, name, judge
}

// rt35Failed prepares a named INSERT, has another session add a CHECK
// over a plain column (the judges guard fails: 40001) and then make the
// parameter's column a date, and runs the INSERT again: phiguard's
// re-Parse fails in the backend (42804, as PostgreSQL's re-plan of the
// client's statement does). The backend keeps the statement, as
// PostgreSQL keeps the client's (phiguard tries the text under a name of
// its own before it closes the statement; it held none of the name).
func rt35Failed(t *testing.T) (su, app *pgconn.PgConn, enc, name string) {
	t.Helper()
	ctx := testContext(t)
	su, app, enc, name = rt35Prepared(t)
	if err := su.Exec(ctx, "ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_c CHECK (id > 0)").Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt35Exec(t, app, name); rt4Code(err) != "40001" {
		t.Fatalf("first execution after the CHECK: %v, want the judges guard's 40001", err)
	}
	if err := su.Exec(ctx, "ALTER TABLE "+enc+" DROP CONSTRAINT "+enc+"_c, ALTER COLUMN id TYPE date USING DATE '2000-01-01'").Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt35Exec(t, app, name); rt4Code(err) != "42804" {
		t.Fatalf("the re-prepare after id became a date: %v, want PostgreSQL's 42804", err)
	}
	rt35Held(t, app, name, "1")
	return su, app, enc, name
}

// rt35Held fails unless the backend holds want (0 or 1) statements named name.
func rt35Held(t *testing.T, app *pgconn.PgConn, name, want string) {
	t.Helper()
	res := app.ExecParams(testContext(t), "SELECT count(*) FROM pg_prepared_statements WHERE name = $1", [][]byte{[]byte(name)}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != want {
		t.Fatalf("pg_prepared_statements named %s: %v %v, want %s", name, res.Rows, res.Err, want)
	}
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
// (SELECT pg_sleep(0.3)), then behind the statement's own refused
// re-prepare. PostgreSQL would run the statement and meet the CHECK
// (23514); phiguard prepares it again and refuses it (0A000 naming the
// CHECK), or, not settled yet, runs the statement the backend kept, whose
// guard fails again (40001); never a name the backend lacks (26000).
func TestReprepareRefusedThenPipelined(t *testing.T) {
	t.Parallel()
	su, app, enc, name, judge := reprepareRefusedSetup(t)
	rt35Pipelined(t, app, name, func(what string, err error) {
		if rt4Code(err) != "40001" {
			rt33bRefused(t, what, err, judge)
		}
	})
	rt35Stored(t, su, enc, "pipelined")
	rt35DropCheck(t, su, app, enc)
	rt35Runs(t, su, app, enc, name)
}

// TestReprepareFailedThenPipelined: the same after a re-prepare the
// backend failed, which left it no statement of the name: phiguard
// prepares it again, and it fails as PostgreSQL's re-plan does (42804).
func TestReprepareFailedThenPipelined(t *testing.T) {
	t.Parallel()
	su, app, enc, name := rt35Failed(t)
	rt35Pipelined(t, app, name, func(what string, err error) {
		if rt4Code(err) != "42804" {
			t.Fatalf("%s: %v, want PostgreSQL's 42804", what, err)
		}
	})
	rt35Stored(t, su, enc, "pipelined")
	rt35Restore(t, su, app, enc)
	rt35Runs(t, su, app, enc, name)
}

// rt35Pipelined sends two segments at once, the second a Bind of name,
// the first SELECT pg_sleep(0.3) (a statement of its own name, not the
// unnamed one) and then the same Bind; check judges each of the
// statement's answers.
func rt35Pipelined(t *testing.T, app *pgconn.PgConn, name string, check func(what string, err error)) {
	t.Helper()
	ctx := testContext(t)
	params := [][]byte{[]byte("9"), []byte("abc")}
	for _, first := range []string{"sleep", "statement"} {
		pl := app.StartPipeline(ctx)
		if first == "sleep" {
			pl.SendPrepare("rt35_sleep_"+first, "SELECT pg_sleep(0.3)", nil)
			pl.SendQueryPrepared("rt35_sleep_"+first, nil, nil, nil)
			pl.SendDeallocate("rt35_sleep_" + first)
		} else {
			pl.SendQueryPrepared(name, params, nil, nil)
		}
		pl.SendPipelineSync()
		pl.SendQueryPrepared(name, params, nil, nil)
		if err := pl.Sync(); err != nil {
			t.Fatal(err)
		}
		for seg := 1; seg <= 2; seg++ {
			what := fmt.Sprintf("%s then the statement, segment %d", first, seg)
			for {
				res, err := pl.GetResults()
				if rr, ok := res.(*pgconn.ResultReader); ok {
					err = rr.Read().Err
				}
				if _, ok := res.(*pgconn.PipelineSync); ok {
					break
				}
				if res == nil && err == nil {
					t.Fatalf("%s: no answer where its Sync's belongs", what)
				}
				if seg == 1 && first == "sleep" {
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
				} else if _, described := res.(*pgconn.StatementDescription); !described {
					check(what, err)
				}
			}
		}
		if err := pl.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReprepareRefusedThenAbortedTransaction: the next Bind comes in a
// transaction block an error aborted. PostgreSQL answers 25P02 (it has
// the statement); phiguard answered 26000. After the ROLLBACK it is
// refused again, and runs once the CHECK is gone.
func TestReprepareRefusedThenAbortedTransaction(t *testing.T) {
	t.Parallel()
	su, app, enc, name, judge := reprepareRefusedSetup(t)
	rt35Aborted(t, app, name)
	rt33bRefused(t, "after the ROLLBACK", rt35Exec(t, app, name), judge)
	rt35Stored(t, su, enc, "after the ROLLBACK")
	rt35DropCheck(t, su, app, enc)
	rt35Runs(t, su, app, enc, name)
}

// TestReprepareFailedThenAbortedTransaction: the same after a re-prepare
// the backend failed: 25P02, then after the ROLLBACK 42804, as
// PostgreSQL answers, and it runs once the column is an integer again.
func TestReprepareFailedThenAbortedTransaction(t *testing.T) {
	t.Parallel()
	su, app, enc, name := rt35Failed(t)
	rt35Aborted(t, app, name)
	if err := rt35Exec(t, app, name); rt4Code(err) != "42804" {
		t.Fatalf("after the ROLLBACK: %v, want PostgreSQL's 42804", err)
	}
	rt35Stored(t, su, enc, "after the ROLLBACK")
	rt35Restore(t, su, app, enc)
	rt35Runs(t, su, app, enc, name)
}

// rt35Aborted runs the statement twice in a transaction block SELECT 1/0
// aborted, wanting PostgreSQL's 25P02, and rolls back.
func rt35Aborted(t *testing.T, app *pgconn.PgConn, name string) {
	t.Helper()
	ctx := testContext(t)
	if err := app.Exec(ctx, "BEGIN").Close(); err != nil {
		t.Fatal(err)
	}
	if err := app.Exec(ctx, "SELECT 1/0").Close(); rt4Code(err) != "22012" {
		t.Fatalf("SELECT 1/0: %v", err)
	}
	for i := range 2 {
		if err := rt35Exec(t, app, name); rt4Code(err) != "25P02" {
			t.Fatalf("in the aborted transaction, execution %d: %v, want PostgreSQL's 25P02", i+1, err)
		}
	}
	if err := app.Exec(ctx, "ROLLBACK").Close(); err != nil {
		t.Fatal(err)
	}
}

// rt35Restore makes the id column an integer again and has the session
// read its catalog.
func rt35Restore(t *testing.T, su, app *pgconn.PgConn, enc string) {
	t.Helper()
	ctx := testContext(t)
	if err := su.Exec(ctx, "ALTER TABLE "+enc+" ALTER COLUMN id TYPE int USING 1").Close(); err != nil {
		t.Fatal(err)
	}
	if err := app.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS rt35_read (a int)").Close(); err != nil { // a catalog read
		t.Fatal(err)
	}
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

// TestReprepareRefusedThenDescribed: a Describe of the statement after
// its refused re-prepare. PostgreSQL describes the statement it holds;
// the backend behind phiguard had none (26000), and keeps it now.
func TestReprepareRefusedThenDescribed(t *testing.T) {
	t.Parallel()
	su, app, enc, name, _ := reprepareRefusedSetup(t)
	for _, when := range []string{"with the CHECK", "with the CHECK gone"} {
		if got := rt35Describe(t, app, name); got != "params [23 25], no data" {
			t.Fatalf("Describe %s answered %q, want PostgreSQL's params [23 25], no data", when, got)
		}
		if when == "with the CHECK" {
			rt35DropCheck(t, su, app, enc)
		}
	}
	rt35Runs(t, su, app, enc, name)
}

// rt35Describe sends Describe of statement name and Sync, and returns
// the answer in short.
func rt35Describe(t *testing.T, c *pgconn.PgConn, name string) string {
	t.Helper()
	fe := c.Frontend()
	fe.Send(&pgproto3.Describe{ObjectType: 'S', Name: name})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		msg, err := c.ReceiveMessage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.ParameterDescription:
			got = append(got, fmt.Sprintf("params %v", m.ParameterOIDs))
		case *pgproto3.NoData:
			got = append(got, "no data")
		case *pgproto3.ErrorResponse:
			got = append(got, "error "+m.Code+" "+m.Message)
		case *pgproto3.ReadyForQuery:
			return strings.Join(got, ", ")
		}
	}
}

// TestReprepareRefusedThenDeallocated: SQL DEALLOCATE of the statement
// after its refused re-prepare. PostgreSQL drops the statement it holds;
// the backend behind phiguard has none (26000). And a Bind after it is
// PostgreSQL's 26000, not the statement prepared again.
func TestReprepareRefusedThenDeallocated(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc, name, _ := reprepareRefusedSetup(t)
	rt35DropCheck(t, su, app, enc)
	if err := app.Exec(ctx, "DEALLOCATE "+name).Close(); err != nil {
		t.Fatalf("DEALLOCATE %s: %v, where PostgreSQL drops the statement it holds", name, err)
	}
	if err := rt35Exec(t, app, name); rt4Code(err) != "26000" {
		t.Fatalf("%s after its DEALLOCATE: %v, want PostgreSQL's 26000", name, err)
	}
	rt35Stored(t, su, enc, "after the DEALLOCATE")
}

// TestReprepareFailedThenDeallocatedOrDescribed: after a re-prepare the
// backend failed (rt35Failed), PostgreSQL still holds the client's
// statement: a Describe describes it (an INSERT: no re-analysis), an SQL
// DEALLOCATE of it succeeds, and a Bind after that answers 26000. The
// backend behind phiguard held none (its Close ran before the failed
// Parse): 26000, 26000, and the statement prepared again and run.
func TestReprepareFailedThenDeallocatedOrDescribed(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc, name := rt35Failed(t)
	if got := rt35Describe(t, app, name); got != "params [23 25], no data" {
		t.Fatalf("Describe answered %q, want PostgreSQL's params [23 25], no data", got)
	}
	if err := app.Exec(ctx, "DEALLOCATE "+name).Close(); err != nil {
		t.Fatalf("DEALLOCATE %s: %v, where PostgreSQL drops the statement it holds", name, err)
	}
	rt35Restore(t, su, app, enc)
	if err := rt35Exec(t, app, name); rt4Code(err) != "26000" {
		t.Fatalf("%s after its DEALLOCATE: %v, want PostgreSQL's 26000", name, err)
	}
}

// TestReprepareRefusedUnnamedThenPipelined: the same for the unnamed
// statement, bound again without a Parse: its refused re-Parse drops it
// in PostgreSQL (a Parse of the unnamed statement drops the old one
// first, failed or not), so it is prepared again at each Bind, behind a
// pipelined segment too, and refused (0A000), not bound (26000).
func TestReprepareRefusedUnnamedThenPipelined(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	suConn, appConn, enc := rt31cProxy(t, func(c *config.Config) { c.Limits.JudgesGuard = true })
	su, app, judge := suConn.PgConn(), appConn.PgConn(), enc+"_c"
	if _, err := app.Prepare(ctx, "", "INSERT INTO "+enc+" (id, s) VALUES ($1, $2)", nil); err != nil {
		t.Fatal(err)
	}
	if err := su.Exec(ctx, "ALTER TABLE "+enc+" ADD CONSTRAINT "+judge+" CHECK (length(s) > 10)").Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt35Exec(t, app, ""); rt4Code(err) != "40001" {
		t.Fatalf("first execution after the CHECK: %v, want the judges guard's 40001", err)
	}
	rt33bRefused(t, "the re-prepare", rt35Exec(t, app, ""), judge)
	rt35Pipelined(t, app, "", func(what string, err error) { rt33bRefused(t, what, err, judge) })
	rt35Stored(t, su, enc, "pipelined")
}
