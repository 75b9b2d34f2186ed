package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team of the read of the search path alone (readPathFirst,
// guard/catalog_path_follow.go; docs/catalog.md, the search path item).

// TestRedTeam32cLaterRequestAfterPathRead: a view q.z over an encrypted
// column that another session made after the session's last whole
// catalog read, under the name of a table public.z the catalog lists;
// the session then puts q first on its path. The first request after the
// change (SELECT 1, or one naming another table) had the path alone read
// and its own names checked, and the path counted as followed: the next
// request's SELECT n FROM z was planned on the catalog from before the
// view, and served 65 (the length of the ciphertext) where PostgreSQL
// answers 6. Before the read of the path alone, the first request naming
// a relation unqualified after the change had the whole catalog read.
func TestRedTeam32cLaterRequestAfterPathRead(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	q := enc + "_q"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser,
		"CREATE TABLE "+enc+"_o AS SELECT 1 AS id", "GRANT SELECT ON "+enc+"_o TO "+appUser)
	firsts := []string{"SELECT 1", "SELECT id FROM " + enc + "_o", "SELECT id FROM public." + enc}
	for i, first := range firsts {
		for j, mode := range bothModes {
			z := fmt.Sprintf("%s_z%d%d", enc, i, j)
			rt31cExec(t, su, "CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
			rtSimple(t, app, "RESET search_path", "SELECT n FROM "+z) // read whole: z is new
			rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
			rtSimple(t, app, "SET search_path = "+q+", public", first)
			rt31cAnswer(t, app, "SELECT n FROM "+z, "6\n", mode)
		}
	}
}

// rt32cBatch runs a pipeline of SELECT 1 and q (a pgx batch, one Sync),
// up to three times while phiguard refuses q with 40001, and returns
// q's rows, or the SQLSTATE of a refusal other than 40001, or 40001
// when each run was refused with it.
func rt32cBatch(t *testing.T, app *pgx.Conn, q string) (string, string) {
	t.Helper()
	code := ""
	for range 3 {
		b := &pgconn.Batch{}
		b.ExecParams("SELECT 1", nil, nil, nil, nil)
		b.ExecParams(q, nil, nil, nil, nil)
		res, err := app.PgConn().ExecBatch(testContext(t), b).ReadAll()
		if err != nil {
			if code = rt4Code(err); code == "client" || code == "" {
				t.Fatalf("%s: not a refusal from phiguard: %v", q, err)
			}
			if code == "40001" {
				continue
			}
			t.Logf("%s: refused: %v", q, err)
			return "", code
		}
		out := ""
		for _, r := range res[1].Rows {
			out += string(r[0]) + "\n"
		}
		return out, ""
	}
	return "", code
}

// TestRedTeam32cPipelineAfterPathRead: after SET search_path (a Query
// of its own), a pipeline of SELECT 1 and SELECT n FROM z: the Parse of
// SELECT 1, first in the segment, had the path alone read (no names to
// check) and the path counted as followed, so the Parse of SELECT n FROM
// z after it was not refused with 40001 (pathInSegment) as it was when
// the path stayed unfollowed until a whole read, and a view q.z another
// session made before the change, in the schema the path puts first,
// served 65 where PostgreSQL answers 6.
func TestRedTeam32cPipelineAfterPathRead(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	q := enc + "_q"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser)
	for i := range 2 {
		z := fmt.Sprintf("%s_z%d", enc, i)
		rt31cExec(t, su, "CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
		rtSimple(t, app, "RESET search_path", "SELECT n FROM "+z)
		rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
		rtSimple(t, app, "SET search_path = "+q+", public")
		got, code := rt32cBatch(t, app, "SELECT n FROM "+z)
		if code == "40001" {
			t.Fatalf("run %d: refused with 40001 three times in a row", i)
		}
		if code == "" && got != "6\n" {
			t.Fatalf("run %d: got %q where the plaintext database answers \"6\\n\"", i, got)
		}
	}
}

// TestRedTeam32cNamedBindAfterPathRead: a statement prepared before the
// change of the path (SELECT n FROM z, z a table in public), bound after
// it, is analysed again by PostgreSQL under the new path. After SET
// search_path and a SELECT 1 (which had the path alone read and the path
// counted as followed), its Bind had no catalog read before it
// (bindReprepares reads before a named Bind only while the path is
// unfollowed), and a view q.z another session made before the change
// served 65 where PostgreSQL answers 6.
func TestRedTeam32cNamedBindAfterPathRead(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	q := enc + "_q"
	ctx := testContext(t)
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser)
	for i := range 2 {
		z := fmt.Sprintf("%s_z%d", enc, i)
		p := fmt.Sprintf("p32c_%d", i)
		rt31cExec(t, su, "CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
		rtSimple(t, app, "RESET search_path", "SELECT n FROM "+z)
		if _, err := app.PgConn().Prepare(ctx, p, "SELECT n FROM "+z, nil); err != nil {
			t.Fatal(err)
		}
		rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
		rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
		for try := range 3 {
			res := app.PgConn().ExecPrepared(ctx, p, nil, nil, nil).Read()
			if res.Err != nil {
				if code := rt4Code(res.Err); code == "40001" && try < 2 {
					continue
				}
				t.Logf("run %d: refused: %v", i, res.Err)
				if code := rt4Code(res.Err); code == "client" || code == "" {
					t.Fatalf("run %d: %v", i, res.Err)
				}
				break
			}
			if len(res.Rows) != 1 || string(res.Rows[0][0]) != "6" {
				t.Fatalf("run %d: got %q where the plaintext database answers 6", i, res.Rows)
			}
			break
		}
	}
}

// TestRedTeam32cPipelinePerTransaction: an application that runs BEGIN;
// SET LOCAL search_path in a Query, then a pipeline of two reads of
// tables it names unqualified, then COMMIT, in every transaction. The
// Parse first in the pipeline has the path and its names read; the
// second's name, not checked, is refused with 40001 (it may resolve in
// another schema now) and the catalog read whole before the next
// segment. That refusal must not come back at every other transaction:
// the names refused are checked with the path from then on.
func TestRedTeam32cPipelinePerTransaction(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	q := enc + "_q"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser,
		"CREATE TABLE "+enc+"_a AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+enc+"_a TO "+appUser,
		"CREATE TABLE "+enc+"_b AS SELECT 2 AS id, 7 AS n", "GRANT SELECT ON "+enc+"_b TO "+appUser)
	refused := 0
	for i := range 6 {
		rtSimple(t, app, "BEGIN; SET LOCAL search_path = "+q+", public")
		b := &pgconn.Batch{}
		b.ExecParams("SELECT n FROM "+enc+"_a", nil, nil, nil, nil)
		b.ExecParams("SELECT n FROM "+enc+"_b", nil, nil, nil, nil)
		res, err := app.PgConn().ExecBatch(ctx, b).ReadAll()
		rtSimple(t, app, "COMMIT")
		if err != nil {
			if rt4Code(err) != "40001" {
				t.Fatalf("run %d: %v", i, err)
			}
			refused++
			continue
		}
		if len(res) != 2 || string(res[0].Rows[0][0]) != "6" || string(res[1].Rows[0][0]) != "7" {
			t.Fatalf("run %d: %v", i, res)
		}
	}
	if refused > 1 {
		t.Fatalf("the pipeline was refused with 40001 in %d transactions of 6", refused)
	}
}

// TestRedTeam32cWriteThroughViewAfterPathRead: the write counterpart of
// TestRedTeam32cLaterRequestAfterPathRead: q.z, made by another session
// after the last whole read, is an updatable view of the protected
// table's encrypted column, under the name of a plain table public.z of
// the same columns; after the change of the path that puts q first and
// a request that checked other names, INSERT INTO z and UPDATE z reach
// the protected table through q.z: the value must not be stored in clear
// (refused, or stored encrypted).
func TestRedTeam32cWriteThroughViewAfterPathRead(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	ctx := testContext(t)
	q := enc + "_q"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser)
	writes := []string{"INSERT INTO %s (id, s) VALUES (%d, 'clear32c')", "UPDATE %s SET s = 'clear32c' WHERE id = 1 AND %d > 0"}
	for i, w := range writes {
		for j, mode := range bothModes {
			z := fmt.Sprintf("%s_z%d%d", enc, i, j)
			rt31cExec(t, su, "CREATE TABLE "+z+" (id int, s text)", "GRANT ALL ON "+z+" TO "+appUser)
			rtSimple(t, app, "RESET search_path", "SELECT s FROM "+z)
			rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, s FROM "+enc, "GRANT ALL ON "+q+"."+z+" TO "+appUser)
			rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
			_, err := app.Exec(ctx, fmt.Sprintf(w, z, 10+i*2+j), mode)
			if err != nil {
				if code := rt4Code(err); code == "client" || code == "" {
					t.Fatalf("%v: not a refusal from phiguard: %v", mode, err)
				}
				t.Logf("%v: refused: %v", mode, err)
			}
			var n int
			if err := su.QueryRow(ctx, "SELECT count(*) FROM "+enc+" WHERE s = 'clear32c'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("%s (%v): %d rows of %s store 'clear32c' in clear", w, mode, n, enc)
			}
		}
	}
}

// TestRedTeam32cComputedOnCopiedCells: CREATE TABLE AS and SELECT INTO
// of a protected table's encrypted column, through phiguard, copied its
// cells into a table phiguard knows as plain (the catalog is read after
// the DDL: the new table has no policy); a value computed from them was
// computed on the ciphertext: SELECT length(s) FROM the copy answered
// 65 where PostgreSQL on the plaintext database answers 6. A cell read
// whole is refused (stray_cells.go); a computed value was not. Not a
// matter of the search path: a temporary copy under the name of a
// plain table public.z answers the same, and so does a copy of a new
// name. Such a copy is refused now, before it runs (0A000 naming the
// table, the column and the statement: sqlrewrite/planner_ddl_copy.go),
// and no table is made; a copy of the plain columns runs.
func TestRedTeam32cComputedOnCopiedCells(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	ctx := testContext(t)
	copies := []string{"CREATE TABLE %[1]s AS SELECT id, s FROM %[2]s", "SELECT id, s INTO %[1]s FROM %[2]s",
		"CREATE TEMP TABLE %[1]s AS SELECT id, s FROM %[2]s", "SELECT id, s INTO TEMP %[1]s FROM %[2]s",
		"CREATE TABLE %[1]s AS SELECT * FROM %[2]s", "SELECT * INTO %[1]s FROM (SELECT s AS v FROM %[2]s) w"}
	for i, c := range copies {
		for j, mode := range bothModes {
			z := fmt.Sprintf("%s_c%d%d", enc, i, j)
			if j == 1 {
				// A plain table under the name the TEMP copy shadows.
				rt31cExec(t, su, "CREATE TABLE "+z+" AS SELECT 1 AS id, 'secret'::text AS s", "GRANT SELECT ON "+z+" TO "+appUser)
			}
			_, err := rt4Rows(app, fmt.Sprintf(c, z, enc), mode)
			if err == nil {
				t.Fatalf("%s (%v): ran, copying the encrypted column's cells into a plain table", c, mode)
			}
			msg := err.Error()
			if rt4Code(err) != "0A000" || !strings.Contains(msg, "public."+enc+".s") || !strings.Contains(msg, "of * over a table") && !strings.Contains(msg, "of an encrypted column") {
				t.Fatalf("%s (%v): not phiguard's refusal of the copy: %v", c, mode, err)
			}
			var made int
			if err := su.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = $1 AND relpersistence <> 'p'", z).Scan(&made); err != nil || made != 0 {
				t.Fatalf("%s (%v): a temporary table was made (%d, %v)", c, mode, made, err)
			}
			if j == 0 {
				if err := su.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = $1", z).Scan(&made); err != nil || made != 0 {
					t.Fatalf("%s (%v): the table was made (%d, %v)", c, mode, made, err)
				}
			}
			rt31cAnswer(t, app, "SELECT length(s) FROM "+z, map[int]string{0: "", 1: "6\n"}[j], mode)
		}
	}
	// What copies no cell runs: the plain columns, WITH NO DATA.
	for i, c := range []string{"CREATE TABLE %[1]s AS SELECT id, s IS NULL AS n FROM %[2]s", "SELECT id INTO TEMP %[1]s FROM %[2]s",
		"CREATE TABLE %[1]s AS SELECT id, s FROM %[2]s WITH NO DATA"} {
		z := fmt.Sprintf("%s_p%d", enc, i)
		rt31cExec(t, app, fmt.Sprintf(c, z, enc))
		rt31cAnswer(t, app, "SELECT id FROM "+z, map[bool]string{true: "", false: "1\n"}[i == 2], pgx.QueryExecModeSimpleProtocol)
	}
}

// TestRedTeam32cSQLExecuteAfterPathChange: PREPARE p AS SELECT n FROM z
// (a plain table public.z), then SET search_path = q, public, q.z a view
// another session made of length(s) over the encrypted column: PostgreSQL
// analyses p again under the new path at EXECUTE p, which reads the view;
// phiguard plans EXECUTE p from the PREPARE's analysis and served 65
// where PostgreSQL answers 6, after a read of the path alone and after a
// whole read that lists q.z as a view over an encrypted column alike (and
// at 26551e8, before the read of the path alone). The session keeps
// each PREPARE's statements now and checks an EXECUTE as naming what they
// name (guard/sql_prepared.go): refused, 0A000, the view named; before
// the view, EXECUTE p runs.
func TestRedTeam32cSQLExecuteAfterPathChange(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	q := enc + "_q"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser)
	for i, mode := range bothModes {
		z := fmt.Sprintf("%s_z%d", enc, i)
		p := fmt.Sprintf("p32c_e%d", i)
		rt31cExec(t, su, "CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
		rtSimple(t, app, "RESET search_path", "SELECT n FROM "+z, "PREPARE "+p+" AS SELECT n FROM "+z)
		if got, err := rt4Rows(app, "EXECUTE "+p, mode); err != nil || got != "6\n" {
			t.Fatalf("EXECUTE %s before the view (%v): %q, %v", p, mode, got, err)
		}
		rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
		rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
		rt31cAnswer(t, app, "EXECUTE "+p, "6\n", mode)
	}
}
