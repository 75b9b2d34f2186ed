package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team of CREATE TABLE AS's refusal (sqlrewrite/planner_ddl_copy.go),
// the CHECK and row security judges (guard/catalog_judged.go) and the SQL
// PREPARE bookkeeping (guard/sql_prepared.go); docs/catalog.md items 6
// and 7.

// rt33bProxy is rt31cProxy with a deterministic column d beside the
// randomized s, both 'secret' in row 1.
func rt33bProxy(t *testing.T) (su, app *pgx.Conn, enc string) {
	t.Helper()
	su = superuser(t)
	enc = uniqueName("rt33b_enc")
	rt31cExec(t, su, "CREATE TABLE "+enc+" (id int, s text, d text)", "GRANT ALL ON "+enc+" TO "+appUser)
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    columns:\n"+
		"      s: {mode: randomized, key: nr-k, type: text}\n      d: {mode: deterministic, key: nr-d, type: text}\n", enc))})
	app = p.app(t)
	rt31cExec(t, app, "INSERT INTO "+enc+" (id, s, d) VALUES (1, 'secret', 'secret')")
	return su, app, enc
}

// rt33bRefused fails unless err is phiguard's 0A000 holding want.
func rt33bRefused(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || rt4Code(err) != "0A000" || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v, want phiguard's 0A000 naming %q", what, err, want)
	}
}

// TestRedTeam33bExecuteOfParsedStatement: SQL's EXECUTE runs a statement
// the client prepared with the extended protocol's Parse (one namespace
// in PostgreSQL), whose text phiguard rewrote for the values its Binds
// carry; an EXECUTE passes them as they are. EXECUTE "Pd"('secret') of
// SELECT count(*) ... WHERE d = $1 (d deterministic) answered 0 where
// PostgreSQL answers 1; EXECUTE pi(7, 'clear7', 'clear7') of an INSERT
// stored both values in clear in the encrypted columns (and SELECT s
// served "clear7" back); and a statement SELECT n FROM z so prepared,
// executed after SET search_path put first a schema with a view of
// length(s) named z, served 65 where PostgreSQL answers 6 (it names no
// PREPARE, so nothing was checked). Refused now (0A000 naming the
// statement), in both protocols; its Bind runs as before.
func TestRedTeam33bExecuteOfParsedStatement(t *testing.T) {
	t.Parallel()
	su, app, enc := rt33bProxy(t)
	ctx := testContext(t)
	q, z := enc+"_q", enc+"_z"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser,
		"CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
	rtSimple(t, app, "SELECT n FROM "+z)
	for name, sql := range map[string]string{"Pd": "SELECT count(*) FROM " + enc + " WHERE d = $1",
		"pi": "INSERT INTO " + enc + " (id, s, d) VALUES ($1, $2, $3)", "pz": "SELECT n FROM " + z} {
		if _, err := app.PgConn().Prepare(ctx, name, sql, nil); err != nil {
			t.Fatalf("Parse %s: %v", name, err)
		}
	}
	res := app.PgConn().ExecPrepared(ctx, "Pd", [][]byte{[]byte("secret")}, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "1" {
		t.Fatalf("Bind of Pd: %v %q", res.Err, res.Rows)
	}
	rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
	rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
	for _, mode := range bothModes {
		rt31cAnswer(t, app, `EXECUTE "Pd"('secret')`, "1\n", mode)
		rt31cAnswer(t, app, "EXECUTE pz", "6\n", mode)
		_, err := rt4Rows(app, "EXECUTE pi(7, 'clear7', 'clear7')", mode)
		var n int
		if e := su.QueryRow(ctx, "SELECT count(*) FROM "+enc+" WHERE s = 'clear7' OR d = 'clear7'").Scan(&n); e != nil || n != 0 {
			t.Fatalf("EXECUTE pi (%v) stored %d row(s) in clear (%v; EXECUTE: %v)", mode, n, e, err)
		}
		rt33bRefused(t, "EXECUTE pi", err, `"pi"`)
	}
}

// TestRedTeam33bExecuteAfterUnrunDeallocate: phiguard dropped a name's
// PREPARE at a DEALLOCATE or DISCARD ALL it saw, whether PostgreSQL ran
// it or not, and an EXECUTE of a name it kept nothing for was checked as
// naming nothing. PREPARE p AS SELECT n FROM z (z a plain table), then a
// Parse of DEALLOCATE p never executed, SELECT 1/0; DEALLOCATE p (the
// DEALLOCATE skipped), or BEGIN; DISCARD ALL (25001 in a transaction
// block): PostgreSQL keeps p, and after SET search_path put first a
// schema with a view of length(s) named z, EXECUTE p served 65 where
// PostgreSQL answers 6, and so did the Bind of a Parse of EXECUTE p made
// before. Refused now (0A000): an EXECUTE of a name phiguard holds no
// PREPARE of; a DEALLOCATE that ran and a PREPARE again run as before.
func TestRedTeam33bExecuteAfterUnrunDeallocate(t *testing.T) {
	t.Parallel()
	su, app, enc := rt33bProxy(t)
	ctx := testContext(t)
	q := enc + "_q"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser)
	drops := []func(p string) error{
		func(p string) error { _, err := app.PgConn().Prepare(ctx, "dd_"+p, "DEALLOCATE "+p, nil); return err },
		func(p string) error {
			_, err := app.Exec(ctx, "SELECT 1/0; DEALLOCATE "+p, pgx.QueryExecModeSimpleProtocol)
			if rt4Code(err) != "22012" {
				return fmt.Errorf("SELECT 1/0: %v", err)
			}
			return nil
		},
		func(string) error {
			_, err := app.Exec(ctx, "BEGIN; DISCARD ALL", pgx.QueryExecModeSimpleProtocol)
			if rt4Code(err) != "25001" {
				return fmt.Errorf("DISCARD ALL in a transaction block: %v", err)
			}
			_, err = app.Exec(ctx, "ROLLBACK", pgx.QueryExecModeSimpleProtocol)
			return err
		},
	}
	for i, drop := range drops {
		z := fmt.Sprintf("%s_z%d", enc, i)
		p := fmt.Sprintf("p33b_%d", i)
		rt31cExec(t, su, "CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
		rtSimple(t, app, "RESET search_path", "SELECT n FROM "+z, "PREPARE "+p+" AS SELECT n FROM "+z,
			"DEALLOCATE "+p, "PREPARE "+p+" AS SELECT n FROM "+z)
		for _, mode := range bothModes {
			if got, err := rt4Rows(app, "EXECUTE "+p, mode); err != nil || got != "6\n" {
				t.Fatalf("EXECUTE %s before the view (%v): %q, %v", p, mode, got, err)
			}
		}
		if err := drop(p); err != nil {
			t.Fatalf("drop %d: %v", i, err)
		}
		rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
		rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
		for _, mode := range bothModes {
			rt31cAnswer(t, app, "EXECUTE "+p, "6\n", mode)
		}
	}
}

// rt33bPreparedZ makes a schema q (on no path yet) and a plain table z
// of one row (n = 6), named after enc, and has app PREPARE p33b AS
// SELECT n FROM z.
func rt33bPreparedZ(t *testing.T, su, app *pgx.Conn, enc string) (q, z string) {
	t.Helper()
	q, z = enc+"_q", enc+"_z"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser,
		"CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser)
	rtSimple(t, app, "SELECT n FROM "+z, "PREPARE p33b AS SELECT n FROM "+z)
	return q, z
}

// TestRedTeam33bNamedBindAfterFollowedPath: a statement the client
// parsed under the old search path (SELECT n FROM z, or EXECUTE p of a
// PREPARE of it), bound after SET search_path put first a schema with a
// view of length(s) named z, once a statement naming z had the catalog
// read (and was refused: the view): the Bind has no read or check before
// it (the path is followed, z checked), and PostgreSQL, which analyses
// the statement again under the new path, served 65 where it answers 6
// on the plaintext database. TestRedTeam32cNamedBindAfterPathRead's Bind
// came right after SELECT 1 and is refused. A named statement bound
// after a change of the path since its Parse is checked again now
// (guard/catalog_path_follow.go, pathChangedSince): refused (0A000).
func TestRedTeam33bNamedBindAfterFollowedPath(t *testing.T) {
	t.Parallel()
	su, app, enc := rt33bProxy(t)
	ctx := testContext(t)
	q, z := rt33bPreparedZ(t, su, app, enc)
	for name, sql := range map[string]string{"xz": "SELECT n FROM " + z, "xp": "EXECUTE p33b"} {
		if _, err := app.PgConn().Prepare(ctx, name, sql, nil); err != nil {
			t.Fatal(err)
		}
	}
	rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
	rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
	rt31cAnswer(t, app, "SELECT n FROM "+z, "6\n", pgx.QueryExecModeSimpleProtocol)
	for _, name := range []string{"xp", "xz"} {
		res := app.PgConn().ExecPrepared(ctx, name, nil, nil, nil).Read()
		if res.Err == nil && (len(res.Rows) != 1 || string(res.Rows[0][0]) != "6") {
			t.Fatalf("Bind of %s: %q where the plaintext database answers 6", name, res.Rows)
		}
		rt33bRefused(t, "Bind of "+name, res.Err, "")
	}
}

// TestRedTeam33bPrepareAfterUnrunDeallocate: with phiguard dropping a
// name's statements as a DEALLOCATE was sent (and refusing an EXECUTE of
// a name it kept none for), a PREPARE of the name after a DEALLOCATE
// PostgreSQL did not run (a Parse of it never executed) fails in
// PostgreSQL (42P05), which keeps the first statement, and stood for the
// name in phiguard: PREPARE p AS SELECT n FROM z, the unrun DEALLOCATE
// p, PREPARE p AS SELECT 1; after SET search_path put first a schema
// with a view of length(s) named z, EXECUTE p served 65 where PostgreSQL
// answers 6. A DEALLOCATE drops the statements when it completes now
// (guard/sql_prepared.go): refused (0A000, the view). And the everyday
// DEALLOCATE p; PREPARE p AS ... in one Query, or in one pipeline, keeps
// the new statement: its EXECUTE runs.
func TestRedTeam33bPrepareAfterUnrunDeallocate(t *testing.T) {
	t.Parallel()
	su, app, enc := rt33bProxy(t)
	ctx := testContext(t)
	q, z, z2 := enc+"_q", enc+"_z", enc+"_z2"
	rt31cExec(t, su, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser,
		"CREATE TABLE "+z+" AS SELECT 1 AS id, 6 AS n", "GRANT SELECT ON "+z+" TO "+appUser,
		"CREATE TABLE "+z2+" AS SELECT 7 AS m", "GRANT SELECT ON "+z2+" TO "+appUser)
	rtSimple(t, app, "SELECT n FROM "+z, "SELECT m FROM "+z2, "PREPARE p33b AS SELECT n FROM "+z)
	if _, err := app.PgConn().Prepare(ctx, "dd33b", "DEALLOCATE p33b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Exec(ctx, "PREPARE p33b AS SELECT 1", pgx.QueryExecModeSimpleProtocol); rt4Code(err) != "42P05" {
		t.Fatalf("PREPARE of a name in use: %v, want 42P05", err)
	}
	rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
	rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
	for _, mode := range bothModes {
		rt31cAnswer(t, app, "EXECUTE p33b", "6\n", mode)
	}
	rtSimple(t, app, "RESET search_path", "DEALLOCATE p33b; PREPARE p33b AS SELECT m FROM "+z2)
	for _, mode := range bothModes {
		if got, err := rt4Rows(app, "EXECUTE p33b", mode); err != nil || got != "7\n" {
			t.Fatalf("EXECUTE p33b after DEALLOCATE; PREPARE in one Query (%v): %q, %v", mode, got, err)
		}
	}
	b := &pgx.Batch{}
	b.Queue("DEALLOCATE p33b")
	b.Queue("PREPARE p33b AS SELECT m + 1 FROM " + z2)
	b.Queue("EXECUTE p33b")
	var got int
	b.Queue("EXECUTE p33b").QueryRow(func(r pgx.Row) error { return r.Scan(&got) })
	if err := app.SendBatch(ctx, b).Close(); err != nil || got != 8 {
		t.Fatalf("DEALLOCATE, PREPARE and EXECUTE in one pipeline: %d, %v", got, err)
	}
}

// TestRedTeam33bDDLOverCells: DDL through phiguard, by the owner of a
// protected table, that has the database read or compare its cells:
//   - CHECK (octet_length(t::text) > 100), a whole-row reference, ran
//     (validated on the ciphertext) where the plaintext database refuses
//     it for the row of 'secret' (23514): refused now, 0A000;
//   - FOREIGN KEY (d) REFERENCES plain_t (t), d deterministic: 23503
//     (the cell is not in plain_t) where the plaintext database adds it;
//   - ALTER COLUMN s TYPE varchar(10): 22001 on the 65-character cell
//     where the plaintext database converts 'secret'.
//
// Each is refused before it runs (0A000 naming the column), and the
// table is as it was: no constraint added, s still text.
func TestRedTeam33bDDLOverCells(t *testing.T) {
	t.Parallel()
	su, app, enc := rt33bProxy(t)
	ctx := testContext(t)
	rt31cExec(t, su, "ALTER TABLE "+enc+" OWNER TO "+appUser, "CREATE TABLE "+enc+"_p (t text PRIMARY KEY)",
		"GRANT ALL ON "+enc+"_p TO "+appUser, "INSERT INTO "+enc+"_p VALUES ('secret')")
	for _, ddl := range []string{
		"ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_w CHECK (octet_length(%[1]s::text) > 100)",
		"ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_f FOREIGN KEY (d) REFERENCES %[1]s_p (t)",
		"ALTER TABLE %[1]s_p ADD CONSTRAINT %[1]s_g FOREIGN KEY (t) REFERENCES %[1]s (d)",
		"ALTER TABLE %[1]s ALTER COLUMN s TYPE varchar(10)",
		"ALTER TABLE %[1]s ALTER COLUMN d TYPE varchar(100)",
	} {
		for _, mode := range bothModes {
			q := fmt.Sprintf(ddl, enc)
			_, err := rt4Rows(app, q, mode)
			rt33bRefused(t, q, err, "public."+enc+".")
		}
	}
	var n int
	var typ string
	if err := su.QueryRow(ctx, "SELECT (SELECT count(*) FROM pg_constraint WHERE conname = ANY($1)), "+
		"(SELECT data_type FROM information_schema.columns WHERE table_name = $2 AND column_name = 's')",
		[]string{enc + "_w", enc + "_f", enc + "_g"}, enc).Scan(&n, &typ); err != nil || n != 0 || typ != "text" {
		t.Fatalf("%d constraints, s of type %q (%v): the refused DDL ran", n, typ, err)
	}
	rt31cExec(t, app, "ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_i CHECK (id > 0)", "ALTER TABLE "+enc+" ALTER COLUMN s TYPE text")
}

// TestRedTeam33bConstraintsByAnotherSession: what phiguard refuses to
// add through itself (TestRedTeam33bDDLOverCells, TestRedTeam10DDLOverCells)
// but another session adds directly, that the catalog read's judges
// (guard/catalog_judged.go, CHECKs and policies only) do not list: a
// UNIQUE index on a randomized column took a second row of 'secret' (2
// rows stored) where the plaintext database refuses it (23505); a
// FOREIGN KEY of the deterministic column to a plain table's column of
// 'secret' refused the row of 'secret' (23503) that the plaintext
// database takes. The catalog read lists them now
// (guard/catalog_judged_keys.go): the writes they would judge are
// refused (0A000 naming them), a DELETE of the referenced table's rows
// too; a UNIQUE index on the deterministic column itself is not.
func TestRedTeam33bConstraintsByAnotherSession(t *testing.T) {
	t.Parallel()
	su, app, enc := rt33bProxy(t)
	ctx := testContext(t)
	rt31cExec(t, su, "CREATE UNIQUE INDEX "+enc+"_u ON "+enc+" (s)")
	rt32bRead(t, app) // the catalog is read again
	_, err := rt4Rows(app, "INSERT INTO "+enc+" (id, s, d) VALUES (2, 'secret', 'x')", pgx.QueryExecModeSimpleProtocol)
	var n int
	if e := su.QueryRow(ctx, "SELECT count(*) FROM "+enc).Scan(&n); e != nil || n != 1 {
		t.Fatalf("%d rows (%v; INSERT: %v) where the plaintext database refuses the second 'secret' (23505)", n, e, err)
	}
	rt33bRefused(t, "INSERT under a UNIQUE index on s", err, enc)
	// A FOREIGN KEY of d (deterministic) to a plain column: the INSERT
	// and a DELETE of the referenced row are refused; one between d and
	// a column of d's key, like a UNIQUE index on d itself, is not.
	rt31cExec(t, su, "DROP INDEX "+enc+"_u", "CREATE TABLE "+enc+"_p (t text PRIMARY KEY)", "INSERT INTO "+enc+"_p VALUES ('secret')",
		"GRANT ALL ON "+enc+"_p TO "+appUser, "UPDATE "+enc+" SET d = NULL",
		"ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_f FOREIGN KEY (d) REFERENCES "+enc+"_p (t)")
	rt32bRead(t, app)
	for _, q := range []string{"INSERT INTO " + enc + " (id, s, d) VALUES (2, 'secret', 'secret')", "DELETE FROM " + enc + "_p"} {
		_, err = rt4Rows(app, q, pgx.QueryExecModeSimpleProtocol)
		rt33bRefused(t, q, err, enc+"_f")
	}
	rt31cExec(t, su, "ALTER TABLE "+enc+" DROP CONSTRAINT "+enc+"_f", "CREATE UNIQUE INDEX "+enc+"_d ON "+enc+" (d)")
	rt32bRead(t, app)
	rt31cExec(t, app, "INSERT INTO "+enc+" (id, s, d) VALUES (2, 'secret', 'other')")
}

// TestRedTeam33bBindOfSQLPrepared: the extended protocol's Bind of a
// statement the client made with SQL PREPARE (no Parse: one namespace
// in PostgreSQL) is a statement phiguard did not plan, and was let
// through unchecked: PREPARE p AS SELECT n FROM z (z a plain table),
// bound after SET search_path put first a schema with a view of
// length(s) named z, served 65 where PostgreSQL answers 6. Refused now
// (0A000 naming the statement), before the change of the path too;
// EXECUTE p runs as before.
func TestRedTeam33bBindOfSQLPrepared(t *testing.T) {
	t.Parallel()
	su, app, enc := rt33bProxy(t)
	ctx := testContext(t)
	q, z := rt33bPreparedZ(t, su, app, enc)
	for _, mode := range bothModes {
		if got, err := rt4Rows(app, "EXECUTE p33b", mode); err != nil || got != "6\n" {
			t.Fatalf("EXECUTE p33b (%v): %q, %v", mode, got, err)
		}
	}
	rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
	rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
	res := app.PgConn().ExecPrepared(ctx, "p33b", nil, nil, nil).Read()
	if res.Err == nil && (len(res.Rows) != 1 || string(res.Rows[0][0]) != "6") {
		t.Fatalf("Bind of p33b: %q where the plaintext database answers 6", res.Rows)
	}
	rt33bRefused(t, "Bind of p33b", res.Err, "p33b")
}
