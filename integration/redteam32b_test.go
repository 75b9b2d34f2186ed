package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
)

// Red team of the catalog's generated columns and search path (issue 13,
// docs/catalog.md items 4 and 5).

// TestRedTeam32bPathChangedByExecute: PREPARE p AS SELECT
// set_config('search_path', ...) changes nothing; its EXECUTE does, and
// so does a FETCH of a cursor declared over it. phiguard followed the
// PREPARE and the DECLARE (reading the path again before the next
// statement, still the old one) but not the EXECUTE or FETCH, whose text
// shows no change: a view another session made since in the path's
// first schema, under the name of a table in public, was served, 65 (the
// length of the ciphertext) where PostgreSQL answers 6.
func TestRedTeam32bPathChangedByExecute(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	q := enc + "_q"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser)
	setPath := "SELECT pg_catalog.set_config('search_path', '" + q + ", public', false)"
	runs := [][]string{
		{"PREPARE p0 AS " + setPath, "SELECT n FROM %s", "EXECUTE p0"},
		{"BEGIN", "DECLARE c1 CURSOR WITH HOLD FOR " + setPath, "COMMIT", "SELECT n FROM %s", "FETCH ALL c1"},
		{"BEGIN", "DECLARE c2 CURSOR WITH HOLD FOR " + setPath, "COMMIT", "SELECT n FROM %s", "MOVE ALL c2"},
	}
	for i, run := range runs {
		for j, mode := range bothModes {
			z := fmt.Sprintf("%s_z%d%d", enc, i, j)
			rt31cExec(t, su, "CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
			rtSimple(t, app, "RESET search_path", "DEALLOCATE ALL", "CLOSE ALL", "SELECT n FROM "+z)
			for _, s := range run {
				if s == "SELECT n FROM %s" {
					s = "SELECT n FROM " + z
				}
				rtSimple(t, app, s)
			}
			rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
			rt31cAnswer(t, app, "SELECT n FROM "+z, "6\n", mode)
		}
	}
}

// TestRedTeam32bEverydayColumnNamesInPipeline: a statement naming a
// protected table and a column name no relation has has the catalog read
// before it, and inside a pipeline is refused with 40001 every other
// time it is sent (unknownColumnInSegment). These names are not a column
// another session may add: system columns (tableoid, ctid: no column may
// take their names), a function's output columns in FROM (jsonb_each's
// key and value, jsonb_array_elements's value, WITH ORDINALITY's
// ordinality), a VALUES list's column1. A libpq pipeline (a pgx
// pgconn.Batch) of SELECT 1 and each was refused 40001 on every other
// run, for ever; run alone, each had a catalog read before it.
func TestRedTeam32bEverydayColumnNamesInPipeline(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD COLUMN meta jsonb DEFAULT '{\"k\": [1]}'")
	rtSimple(t, app, "SELECT meta FROM "+enc+" WHERE id = 0") // a column the catalog lacks: read again before it
	qs := []string{
		"SELECT tableoid::regclass::text FROM %[1]s WHERE id = 1",
		"SELECT id FROM %[1]s WHERE ctid = '(0,1)'",
		"SELECT id FROM %[1]s WHERE id = 1 AND cmin::text = '0' AND xmax::text = '0'",
		"SELECT id FROM %[1]s, jsonb_each(meta) WHERE key = 'k'",
		"SELECT id FROM %[1]s, jsonb_each(meta) WHERE value = '[1]'",
		"SELECT id FROM %[1]s, jsonb_array_elements(meta->'k') WHERE value = '1'",
		"SELECT id FROM %[1]s, unnest(ARRAY[1]) WITH ORDINALITY WHERE ordinality = 1",
		"SELECT id FROM %[1]s JOIN (VALUES (1)) v ON id = column1",
	}
	for _, q := range qs {
		q = fmt.Sprintf(q, enc)
		for i := range 4 {
			b := &pgconn.Batch{}
			b.ExecParams("SELECT 1", nil, nil, nil, nil)
			b.ExecParams(q, nil, nil, nil, nil)
			res, err := app.PgConn().ExecBatch(ctx, b).ReadAll()
			if err != nil {
				t.Fatalf("run %d: %s: %v", i, q, err)
			}
			if len(res) != 2 || len(res[1].Rows) != 1 || string(res[1].Rows[0][0]) != "1" && string(res[1].Rows[0][0]) != enc {
				t.Fatalf("run %d: %s: %v", i, q, res)
			}
		}
	}
	// A function's OUT parameter's name is known only to a statement
	// calling a function in FROM: a generated column named value added
	// since over the encrypted column is still read before a statement
	// without one, and refused.
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD COLUMN value int GENERATED ALWAYS AS (length(s)) STORED")
	for _, mode := range bothModes {
		rt31cAnswer(t, app, "SELECT id FROM "+enc+" WHERE value = 6", "1\n", mode)
	}
}

// TestRedTeam32bCheckByAnotherSession: a CHECK constraint over an
// encrypted column that another session (a DBA, directly against the
// database) adds is evaluated by PostgreSQL on the ciphertext, like the
// generated column item 4 of docs/catalog.md holds: CHECK (length(s) >
// 10) took the cell of 'abc' (65 characters), where the plaintext
// database refuses the row (23514). phiguard refuses to add one through
// itself (sqlrewrite/planner_ddl_expr.go); one another session added is
// listed by the catalog read now (guard/catalog_judged.go), and a write
// it would judge is refused before it runs (0A000 naming the table, the
// constraint and the column); a read, a DELETE, and a table whose CHECKs
// read only plain columns (or whose only CHECK over the encrypted column
// is phiguard's cells-only one) are not refused.
func TestRedTeam32bCheckByAnotherSession(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	ctx := testContext(t)
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_id CHECK (id > 0)")
	rt32bRead(t, app) // the catalog is read again
	rt31cExec(t, app, "INSERT INTO "+enc+" (id, s) VALUES (2, 'plain check')", "DELETE FROM "+enc+" WHERE id = 2")
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_c CHECK (length(s) > 10)")
	rt32bRead(t, app) // the catalog is read again
	writes := []string{"INSERT INTO %s (id, s) VALUES (%d, 'abc') RETURNING id", "UPDATE %s SET id = %d WHERE id = 1",
		"UPDATE %s SET s = 'abcdefghijklmnop' WHERE id = %d"}
	for i, w := range writes {
		for j, mode := range bothModes {
			q := fmt.Sprintf(w, enc, 3+2*i+j)
			_, err := rt4Rows(app, q, mode)
			if err == nil {
				t.Fatalf("%s (%v): ran under CHECK (length(s) > 10), which PostgreSQL evaluates on the ciphertext", q, mode)
			}
			if msg := err.Error(); rt4Code(err) != "0A000" || !strings.Contains(msg, enc+"_c") || !strings.Contains(msg, "public."+enc+".s") ||
				!strings.Contains(msg, "CHECK") {
				t.Fatalf("%s (%v): not phiguard's refusal naming the CHECK and the column: %v", q, mode, err)
			}
		}
	}
	var n int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM "+enc).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v) where the refused writes left 1", n, err)
	}
	for _, mode := range bothModes {
		rt31cAnswer(t, app, "SELECT s FROM "+enc, "secret\n", mode)
		if _, err := rt4Rows(app, "DELETE FROM "+enc+" WHERE id = 99", mode); err != nil {
			t.Fatalf("DELETE (%v): %v", mode, err)
		}
	}
}

// rt32bRead has the session read its catalog again: DDL in the session
// (DISCARD PLANS, which the HOLE tests ran for it, has only the search
// path read again).
func rt32bRead(t *testing.T, app *pgx.Conn) {
	t.Helper()
	rtSimple(t, app, "CREATE TEMP TABLE IF NOT EXISTS rt32b_read (a int)")
}

// TestRedTeam32bRowSecurityByAnotherSession: a row security policy over
// an encrypted column that another session makes (USING (length(s) <
// 10)) filtered the rows on the ciphertext: the application's role saw
// none of them, where on the plaintext database it sees the row of
// 'secret'; no statement of the session names anything to show it. The
// catalog read lists it now (guard/catalog_judged.go), and a statement
// reading or writing the table is refused (0A000 naming the table, the
// policy and the column), so is one over a plain table whose policy
// reads the encrypted column in a subquery, and one of a policy over a
// whole row; a policy over plain columns only is not refused.
func TestRedTeam32bRowSecurityByAnotherSession(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	rt31cExec(t, su, "ALTER TABLE "+enc+" ENABLE ROW LEVEL SECURITY", "CREATE POLICY "+enc+"_plain ON "+enc+" USING (id > 0)",
		"CREATE TABLE "+enc+"_o (id int)", "INSERT INTO "+enc+"_o VALUES (1)", "GRANT ALL ON "+enc+"_o TO "+appUser)
	rt32bRead(t, app) // the catalog is read again
	for _, mode := range bothModes {
		rt31cAnswer(t, app, "SELECT count(*) FROM "+enc, "1\n", mode)
	}
	refused := func(q, policyName, column string) {
		t.Helper()
		for _, mode := range bothModes {
			_, err := rt4Rows(app, q, mode)
			if err == nil {
				t.Fatalf("%s (%v): ran under a row security policy PostgreSQL evaluates on the ciphertext", q, mode)
			}
			if msg := err.Error(); rt4Code(err) != "0A000" || !strings.Contains(msg, policyName) || !strings.Contains(msg, column) {
				t.Fatalf("%s (%v): not phiguard's refusal naming the policy and %s: %v", q, mode, column, err)
			}
		}
	}
	rt31cExec(t, su, "CREATE POLICY "+enc+"_p ON "+enc+" USING (length(s) < 10)")
	rt32bRead(t, app)
	for _, q := range []string{"SELECT count(*) FROM %s", "SELECT id FROM public.%s WHERE id = 1", "UPDATE %s SET id = 1 WHERE id = 1",
		"DELETE FROM %s WHERE id = 5", "INSERT INTO %s (id) VALUES (7)"} {
		refused(fmt.Sprintf(q, enc), enc+"_p", "public."+enc+".s")
	}
	rt31cExec(t, su, "DROP POLICY "+enc+"_p ON "+enc, "CREATE POLICY "+enc+"_w ON "+enc+" USING ("+enc+" IS NOT NULL)",
		"ALTER TABLE "+enc+"_o ENABLE ROW LEVEL SECURITY",
		"CREATE POLICY "+enc+"_s ON "+enc+"_o USING (id IN (SELECT id FROM "+enc+" WHERE length(s) < 10))")
	rt32bRead(t, app)
	refused("SELECT count(*) FROM "+enc, enc+"_w", "a whole row")
	refused("SELECT count(*) FROM "+enc+"_o", enc+"_s", "public."+enc+".s")
}

// TestRedTeam32bJudgeAddedAfterRead: the part of the two tests above
// that was left. A CHECK, a UNIQUE index or a row security policy over an
// encrypted column that another session adds after this session's last
// catalog read is not listed until the next read, and a statement naming
// only relations and columns the catalog knows has none before it: the
// INSERT of 'abc' stored its row under CHECK (length(s) > 10). A write
// now carries the judges guard (sqlrewrite/judges_guard.go): it is
// refused with 40001 (nothing written), the catalog is read again, and
// run again it meets the judge's 0A000; in both protocols, and for a
// prepared INSERT made before the DDL (prepared again at its next Bind).
// A policy's reads are TestRedTeam32bPolicyAddedAfterRead.
func TestRedTeam32bJudgeAddedAfterRead(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t, func(c *config.Config) { c.Limits.JudgesGuard = true }) // off by default (docs/catalog.md)
	ctx := testContext(t)
	// Each phase's named INSERT is prepared before its DDL.
	prepared := func(name string) {
		t.Helper()
		if _, err := app.Prepare(ctx, name, "INSERT INTO "+enc+" (id, s) VALUES ($1, $2)"); err != nil {
			t.Fatal(err)
		}
	}
	stored := func(what string) {
		t.Helper()
		var n int
		if err := su.QueryRow(ctx, "SELECT count(*) FROM "+enc).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: %d rows (%v) where the plaintext database stores none but 'secret'", what, n, err)
		}
	}
	judged := func(judge string, statements ...func() error) {
		t.Helper()
		for i, run := range statements {
			err := run()
			if code := rt4Code(err); err == nil || code != "40001" && (i == 0 || code != "0A000") {
				t.Fatalf("%s, statement %d: %v, want phiguard's 40001 (or, the catalog read again, 0A000)", judge, i, err)
			}
			err = run() // the catalog was read again
			rt33bRefused(t, fmt.Sprintf("%s, statement %d, run again", judge, i), err, judge)
			stored(judge)
		}
	}
	writes := func(s, name string) []func() error {
		var out []func() error
		for i, mode := range bothModes {
			out = append(out, func() error {
				_, err := rt4Rows(app, fmt.Sprintf("INSERT INTO %s (id, s) VALUES (%d, %s) RETURNING id", enc, 3+i, s), mode)
				return err
			})
		}
		return append(out, func() error { _, err := app.Exec(ctx, name, 9, s[1:len(s)-1]); return err },
			func() error {
				_, err := app.Exec(ctx, "UPDATE "+enc+" SET s = "+s, pgx.QueryExecModeSimpleProtocol)
				return err
			})
	}
	prepared("rt32b_c")
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_c CHECK (length(s) > 10)")
	judged(enc+"_c", writes("'abc'", "rt32b_c")...)
	// Named like phiguard's cells-only CHECK of s, which the guard lets
	// pass (the backfill adds it while sessions run), but another.
	rt31cExec(t, su, "ALTER TABLE "+enc+" DROP CONSTRAINT "+enc+"_c")
	rt32bRead(t, app)
	rtSimple(t, app, "SELECT 1")
	prepared("rt32b_n")
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD CONSTRAINT phiguard_s_cells CHECK (length(s) > 10)")
	judged("phiguard_s_cells", writes("'abc'", "rt32b_n")...)
	rt31cExec(t, su, "ALTER TABLE "+enc+" DROP CONSTRAINT phiguard_s_cells")
	rt32bRead(t, app) // the catalog is read again (before the next request): without the CHECK
	rtSimple(t, app, "SELECT 1")
	prepared("rt32b_u")
	rt31cExec(t, su, "CREATE UNIQUE INDEX "+enc+"_u ON "+enc+" (s)")
	judged(enc+"_u", writes("'secret'", "rt32b_u")...)
	rt31cExec(t, su, "DROP INDEX "+enc+"_u")
	rt32bRead(t, app)
	rtSimple(t, app, "SELECT 1")
	prepared("rt32b_p")
	rt31cExec(t, su, "ALTER TABLE "+enc+" ENABLE ROW LEVEL SECURITY", "CREATE POLICY "+enc+"_p ON "+enc+" USING (true) WITH CHECK (length(s) > 10)")
	judged(enc+"_p", writes("'abc'", "rt32b_p")...)
}

// TestRedTeam32bPolicyAddedAfterRead: a row security policy USING
// (length(s) < 10) another session adds after the session's catalog
// read filters a read on the ciphertext until the next read: SELECT
// count(*) answered 0 where PostgreSQL on the plaintext answers 1. The
// judges guard covers writes only (sqlrewrite/judges_guard.go).
func TestRedTeam32bPolicyAddedAfterRead(t *testing.T) {
	t.Skip("HOLE: a policy USING (length(s) < 10) another session adds after the session's catalog read filters reads on the ciphertext until the next read: SELECT count(*) answered 0 where PostgreSQL on the plaintext answers 1")
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	rt31cExec(t, su, "ALTER TABLE "+enc+" ENABLE ROW LEVEL SECURITY", "CREATE POLICY "+enc+"_p ON "+enc+" USING (length(s) < 10)")
	for _, mode := range bothModes {
		rt31cAnswer(t, app, "SELECT count(*) FROM "+enc, "1\n", mode)
	}
}

// TestRedTeam32bRoleBySetConfig: set_config('role', ...) is SET ROLE, and
// the search path's "$user" then names another role's schema; phiguard
// took set_config of any setting but search_path as no change of the
// path. Read under role r (path r, public: a table r.y made y a known
// name), then set_config('role', 'none', false) back to the session's
// role, whose path is public alone: a view public.y another session made
// since over an encrypted column was not read before SELECT n FROM y,
// which served 65 where PostgreSQL answers 6.
func TestRedTeam32bRoleBySetConfig(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	r := enc + "_r"
	rt31cExec(t, su, "CREATE ROLE "+r, "GRANT "+r+" TO "+appUser, "CREATE SCHEMA "+r+" AUTHORIZATION "+r,
		"GRANT USAGE ON SCHEMA public TO "+r)
	for i, mode := range bothModes {
		y := fmt.Sprintf("%s_y%d", enc, i)
		rt31cExec(t, su, "CREATE TABLE "+r+"."+y+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+r+"."+y+" TO "+r)
		rtSimple(t, app, "SET ROLE "+r, "SELECT n FROM "+y, "SELECT pg_catalog.set_config('role', 'none', false)")
		rt31cExec(t, su, "CREATE VIEW "+y+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+y+" TO "+appUser)
		rt31cAnswer(t, app, "SELECT n FROM "+y, "6\n", mode)
	}
}
