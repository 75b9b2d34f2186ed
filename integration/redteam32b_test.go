package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
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
// 10) takes the cell of 'abc' (65 characters), where the plaintext
// database refuses the row (23514). phiguard refuses to add one through
// itself (sqlrewrite/planner_ddl_expr.go) but does not list one another
// session added, before or after its catalog read.
func TestRedTeam32bCheckByAnotherSession(t *testing.T) {
	t.Skip("HOLE: a CHECK over an encrypted column added by another session is evaluated on the ciphertext: INSERT of 'abc' under CHECK (length(s) > 10) stored the row (both protocols, after a catalog read too) where PostgreSQL on the plaintext refuses it with 23514")
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_c CHECK (length(s) > 10)")
	rtSimple(t, app, "DISCARD PLANS") // the catalog is read again
	for i, mode := range bothModes {
		_, err := rt4Rows(app, fmt.Sprintf("INSERT INTO %s (id, s) VALUES (%d, 'abc') RETURNING id", enc, 3+i), mode)
		if err == nil {
			t.Fatalf("%v: the row of 'abc' was stored where CHECK (length(s) > 10) refuses it on the plaintext", mode)
		}
		if code := rt4Code(err); code != "23514" && code != "0A000" {
			t.Fatalf("%v: %v", mode, err)
		}
	}
}

// TestRedTeam32bRowSecurityByAnotherSession: a row security policy over
// an encrypted column that another session makes (USING (length(s) <
// 10)) filters the rows on the ciphertext: the application's role sees
// none of them, where on the plaintext database it sees the row of
// 'secret'; no statement of the session names anything to show it.
func TestRedTeam32bRowSecurityByAnotherSession(t *testing.T) {
	t.Skip("HOLE: a row security policy over an encrypted column made by another session filters on the ciphertext: SELECT count(*) answered 0 where PostgreSQL on the plaintext answers 1 (both protocols, after a catalog read too)")
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	rt31cExec(t, su, "ALTER TABLE "+enc+" ENABLE ROW LEVEL SECURITY", "CREATE POLICY "+enc+"_p ON "+enc+" USING (length(s) < 10)")
	rtSimple(t, app, "DISCARD PLANS") // the catalog is read again
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
