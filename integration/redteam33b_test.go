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
		if _, err := app.PgConn().Prepare(ctx, "x"+p, "EXECUTE "+p, nil); err != nil {
			t.Fatal(err)
		}
		if err := drop(p); err != nil {
			t.Fatalf("drop %d: %v", i, err)
		}
		rt31cExec(t, su, "CREATE VIEW "+q+"."+z+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+q+"."+z+" TO "+appUser)
		rtSimple(t, app, "SET search_path = "+q+", public", "SELECT 1")
		for _, mode := range bothModes {
			rt31cAnswer(t, app, "EXECUTE "+p, "6\n", mode)
		}
		res := app.PgConn().ExecPrepared(ctx, "x"+p, nil, nil, nil).Read()
		if res.Err == nil && (len(res.Rows) != 1 || string(res.Rows[0][0]) != "6") {
			t.Fatalf("Bind of EXECUTE %s after drop %d: %q where the plaintext database answers 6", p, i, res.Rows)
		}
		rt33bRefused(t, "Bind of EXECUTE "+p, res.Err, p)
	}
}
