package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestSearchPathFollowed: an unqualified name counts as known only in a
// schema on the session's search path, which phiguard reads with its
// catalog and reads again after a statement that may change it
// (guard/catalog_path_follow.go). Each shape is a view over an encrypted
// column another session makes after phiguard last read the path, under
// a name the catalog lists in another schema: PostgreSQL's answer, or a
// refusal, never the length of a ciphertext.
func TestSearchPathFollowed(t *testing.T) {
	t.Parallel()
	for i, mode := range bothModes {
		su, app, enc := rt31cProxy(t)
		q, z := enc+"_q", enc+"_z"
		rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser,
			"CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
		set := []string{"SET search_path = " + q + ", public", "SELECT pg_catalog.set_config('search_path', '" + q + ", public', false)"}[i]
		// Another session's temporary table of the name, then a view in
		// public made since the read: not a known name.
		tmp := enc + "_t"
		su2 := superuser(t)
		rt31cExec(t, su2, "CREATE TEMP TABLE "+tmp+" (id int)")
		rtSimple(t, app, "CREATE TEMP TABLE "+enc+"_own (k int)", "SELECT 1") // DDL: the catalog is read before the next request
		rt31cExec(t, su, "CREATE VIEW "+tmp+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+tmp+" TO "+appUser)
		rt31cAnswer(t, app, "SELECT n FROM "+tmp, "6\n", mode)
		// SET (or set_config) of the path, then a view made in its first
		// schema: read before the next statement naming z unqualified.
		rtSimple(t, app, "SELECT n FROM "+z, set)
		rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
		rt31cAnswer(t, app, "SELECT n FROM "+z, "6\n", mode)
		// RESET: z is public's again (refused all the same: a view that
		// reads an encrypted column is refused under its name unqualified
		// in any schema).
		rtSimple(t, app, "RESET search_path")
		rt31cAnswer(t, app, "SELECT n FROM "+z, "6\n", mode)
		// ROLLBACK TO undoes a SET LOCAL after the savepoint: phiguard
		// read the path after the SET (public only), and reads it again
		// after the ROLLBACK TO.
		z2 := enc + "_z2"
		rt31cExec(t, su, "CREATE TABLE "+z2+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z2+" TO "+appUser)
		rtSimple(t, app, set, "SELECT n FROM "+z2, "BEGIN", "SAVEPOINT a", "SET LOCAL search_path = public", "SELECT n FROM "+z2, "ROLLBACK TO a")
		rt31cExec(t, su, "CREATE VIEW "+q+"."+z2+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z2+" TO "+appUser)
		rt31cAnswer(t, app, "SELECT n FROM "+z2, "6\n", mode)
		rtSimple(t, app, "ROLLBACK")
		// One Query that sets the path and then names a relation.
		z3 := enc + "_z3"
		rtSimple(t, app, "RESET search_path")
		rt31cExec(t, su, "CREATE TABLE "+z3+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z3+" TO "+appUser)
		rtSimple(t, app, "SELECT n FROM "+z3)
		rt31cExec(t, su, "CREATE VIEW "+q+"."+z3+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z3+" TO "+appUser)
		res, err := app.PgConn().Exec(testContext(t), "SET search_path = "+q+", public; SELECT n FROM "+z3).ReadAll()
		if err == nil && (len(res) != 2 || len(res[1].Rows) != 1 || string(res[1].Rows[0][0]) != "6") {
			t.Fatalf("SET and SELECT in one Query: %v where PostgreSQL answers 6", res)
		} else if err != nil {
			wantPgError(t, err, "0A000")
		}
	}
}

// rtSimple runs each statement through phiguard in a Query of its own, so
// that each is one request and the catalog read before it is one.
func rtSimple(t *testing.T, c *pgx.Conn, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := c.Exec(testContext(t), q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestSearchPathInPipeline: a pgx batch that sets the search path and
// reads a relation unqualified (prepared before under another path,
// which PostgreSQL analyses again under the new one at its Bind), after
// another session made a view over an encrypted column under that name
// in the path's first schema: refused with 40001, then, with the
// catalog read, refused as a view over an encrypted column; never the
// length of a ciphertext.
func TestSearchPathInPipeline(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	q, z := enc+"_q", enc+"_z"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser,
		"CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
	batch := func() error {
		b := &pgx.Batch{}
		b.Queue("SET search_path = " + q + ", public")
		var got int
		b.Queue("SELECT n FROM " + z).QueryRow(func(r pgx.Row) error { return r.Scan(&got) })
		err := app.SendBatch(ctx, b).Close()
		if err == nil && got != 6 {
			t.Fatalf("got %d where the plaintext database answers 6", got)
		}
		return err
	}
	rtSimple(t, app, "SELECT n FROM "+z) // the catalog read lists z
	// Prepared (pgx caches it) under the path public: run in the batch
	// under another path, PostgreSQL analyses it again.
	if got, err := rt4Rows(app, "SELECT n FROM "+z, pgx.QueryExecModeCacheStatement); err != nil || got != "6\n" {
		t.Fatalf("prepared: %q, %v", got, err)
	}
	rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
	for i := range 4 {
		err := batch()
		if err == nil {
			t.Fatalf("run %d: answered where the view reads an encrypted column", i)
		}
		t.Logf("run %d: %v", i, err)
		if code := rt4Code(err); code != "40001" && code != "0A000" {
			t.Fatalf("run %d: %v, want 40001 or 0A000", i, err)
		}
		rtSimple(t, app, "RESET search_path")
	}
}
