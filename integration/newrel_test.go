package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The relations another session creates (or replaces) after a phiguard
// session read its catalog (issues 12 and 13): a view, a materialized
// view, a table copied with CREATE TABLE AS, a function over an encrypted
// column, a protected table dropped and made again. The session must
// answer as the plaintext database would, or refuse; it served the
// stored cells before.

// newrelCase is one such DDL and a statement that reads through it.
type newrelCase struct {
	name string
	// before runs directly as superuser before the phiguard session
	// connects (it is in the catalog the session reads), ddl after.
	before, ddl []string
	query       string
	// want is the plaintext database's answer (rt4Rows' text).
	want string
	// retried: a refusal must be followed by the plaintext answer when
	// the statement runs again (the catalog read since knows the
	// relation).
	retried bool
	// warm: the statement runs once before the DDL too (in the extended
	// protocol, pgx prepares it then and executes the prepared statement
	// after the DDL).
	warm bool
	// reinsert: the row is written again after the DDL, through a fresh
	// phiguard session; plain: a relation of plain values only, which
	// must be served, not refused.
	reinsert, plain bool
}

// newrelCases: %[1]s is the encrypted table (id int, s text encrypted,
// holding (1, 'secret')), %[2]s a prefix for the relations made.
var newrelCases = []newrelCase{
	{name: "view", ddl: []string{"CREATE VIEW %[2]s_v AS SELECT id, s FROM %[1]s"},
		query: "SELECT s FROM %[2]s_v", want: "secret\n"},
	{name: "view computed", ddl: []string{"CREATE VIEW %[2]s_vc AS SELECT id, length(s) AS n FROM %[1]s"},
		query: "SELECT n FROM %[2]s_vc", want: "6\n"},
	{name: "view whole row", ddl: []string{"CREATE VIEW %[2]s_vw AS SELECT id, s FROM %[1]s"},
		query: "SELECT w::text FROM %[2]s_vw w", want: "(1,secret)\n"},
	{name: "or replace view", before: []string{"CREATE VIEW %[2]s_vr AS SELECT id, 'plain'::text AS s FROM %[1]s"},
		ddl:   []string{"CREATE OR REPLACE VIEW %[2]s_vr AS SELECT id, s FROM %[1]s"},
		query: "SELECT s FROM %[2]s_vr", want: "secret\n", warm: true},
	{name: "view dropped and made again", before: []string{"CREATE VIEW %[2]s_vd AS SELECT id, 'plain'::text AS s FROM %[1]s"},
		ddl:   []string{"DROP VIEW %[2]s_vd", "CREATE VIEW %[2]s_vd AS SELECT id, s FROM %[1]s"},
		query: "SELECT s FROM %[2]s_vd", want: "secret\n", warm: true},
	{name: "materialized view", ddl: []string{"CREATE MATERIALIZED VIEW %[2]s_m AS SELECT id, s FROM %[1]s"},
		query: "SELECT s FROM %[2]s_m", want: "secret\n"},
	{name: "create table as", ddl: []string{"CREATE TABLE %[2]s_c AS SELECT id, s FROM %[1]s"},
		query: "SELECT s FROM %[2]s_c", want: "secret\n"},
	{name: "select into", ddl: []string{"SELECT id, s INTO %[2]s_si FROM %[1]s"},
		query: "SELECT s FROM %[2]s_si", want: "secret\n"},
	{name: "function setof", ddl: []string{"CREATE FUNCTION %[2]s_fs() RETURNS SETOF %[1]s LANGUAGE sql AS 'SELECT * FROM %[1]s'"},
		query: "SELECT s FROM %[2]s_fs()", want: "secret\n"},
	{name: "function text", ddl: []string{"CREATE FUNCTION %[2]s_ft() RETURNS text LANGUAGE sql AS 'SELECT s FROM %[1]s LIMIT 1'"},
		query: "SELECT %[2]s_ft()", want: "secret\n"},
	{name: "rule on a plain table", before: []string{"CREATE TABLE %[2]s_r (id int, s text)"},
		ddl: []string{"CREATE RULE \"_RETURN\" AS ON SELECT TO %[2]s_r DO INSTEAD SELECT id, s FROM %[1]s"},
		// A table turned into a view by an ON SELECT rule (PostgreSQL 15
		// still allows it on an empty table).
		query: "SELECT s FROM %[2]s_r", want: "secret\n", warm: true},
	{name: "policy table made again",
		ddl:   []string{"DROP TABLE %[1]s", "CREATE TABLE %[1]s (id int, s text)", "GRANT ALL ON %[1]s TO " + appUser},
		query: "SELECT s FROM %[1]s", want: "secret\n", retried: true, warm: true, reinsert: true},
	{name: "plain table", ddl: []string{"CREATE TABLE %[2]s_p AS SELECT 1 AS id, 'hello'::text AS s"},
		query: "SELECT s FROM %[2]s_p", want: "hello\n", plain: true},
	{name: "plain view", ddl: []string{"CREATE VIEW %[2]s_pv AS SELECT id, 'hello'::text AS s FROM %[1]s"},
		query: "SELECT s FROM %[2]s_pv", want: "hello\n", plain: true},
}

// TestNewRelationAfterCatalogRead runs each case in both protocols: a
// phiguard session reads its catalog, another session (a DBA directly on
// PostgreSQL) runs the DDL, and the phiguard session reads through it.
func TestNewRelationAfterCatalogRead(t *testing.T) {
	t.Parallel()
	for _, c := range newrelCases {
		for _, mode := range bothModes {
			t.Run(fmt.Sprintf("%s/%v", c.name, mode), func(t *testing.T) {
				newrelRun(t, c, mode)
			})
		}
	}
}

func newrelRun(t *testing.T, c newrelCase, mode pgx.QueryExecMode) {
	ctx := testContext(t)
	su := superuser(t)
	enc, rel := uniqueName("nr_enc"), uniqueName("nr")
	exec := func(qs []string) {
		t.Helper()
		for _, q := range qs {
			if strings.Contains(q, "%[") {
				q = fmt.Sprintf(q, enc, rel)
			}
			if _, err := su.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	exec([]string{"CREATE TABLE %[1]s (id int, s text)", "GRANT ALL ON %[1]s TO " + appUser})
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	if _, err := p.app(t).Exec(ctx, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')"); err != nil {
		t.Fatal(err)
	}
	exec(c.before)
	exec([]string{grantPrefixed(rel), grantPrefixed(enc)})
	app := p.app(t)
	if _, err := app.Exec(ctx, "SELECT 1", mode); err != nil { // the catalog is read
		t.Fatal(err)
	}
	if c.warm {
		if _, err := rt4Rows(app, fmt.Sprintf(c.query, enc, rel), mode); err != nil {
			t.Fatal(err)
		}
	}
	exec(c.ddl)
	exec([]string{grantPrefixed(rel), grantPrefixed(enc)})
	if c.reinsert {
		if _, err := p.app(t).Exec(ctx, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')"); err != nil {
			t.Fatal(err)
		}
	}
	q := fmt.Sprintf(c.query, enc, rel)
	got, err := rt4Rows(app, q, mode)
	if err == nil && got != c.want {
		t.Fatalf("%s: got %q where the plaintext database answers %q", q, got, c.want)
	}
	if err != nil {
		if code := rt4Code(err); code == "client" || code == "" {
			t.Fatalf("%s: not a refusal from phiguard: %v", q, err)
		}
		if c.plain {
			t.Fatalf("%s over plain values only: refused: %v", q, err)
		}
		t.Logf("%s: refused: %v", q, err)
		if c.retried {
			if got, err = rt4Rows(app, q, mode); err != nil || got != c.want {
				t.Fatalf("%s run again: %q, %v, want %q", q, got, err, c.want)
			}
		}
	}
	if _, err := app.Exec(ctx, "SELECT 1", mode); err != nil {
		t.Fatalf("the session does not go on: %v", err)
	}
}

// TestNewRelationCopyOfCopiedCells: COPY TO STDOUT of a table another
// session copied from an encrypted one (CREATE TABLE AS) streams its
// rows without decrypting them; a row holding a cell is refused rather
// than copied out as ciphertext.
func TestNewRelationCopyOfCopiedCells(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	enc, cp := uniqueName("nr_cenc"), uniqueName("nr_ccopy")
	if _, err := su.Exec(ctx, "CREATE TABLE "+enc+" (id int, s text); GRANT ALL ON "+enc+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	app := p.app(t)
	if _, err := app.Exec(ctx, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')"); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, "CREATE TABLE "+cp+" AS SELECT id, s FROM "+enc+"; GRANT SELECT ON "+cp+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"COPY " + cp + " TO STDOUT", "COPY (SELECT s FROM " + cp + ") TO STDOUT"} {
		var out strings.Builder
		_, err := app.PgConn().CopyTo(ctx, &out, q)
		if err == nil {
			t.Fatalf("%s: copied %q", q, out.String())
		}
		if strings.Contains(out.String(), "~phg~") {
			t.Errorf("%s: a cell reached the client: %q", q, out.String())
		}
		wantPgError(t, err, "0A000")
	}
	if _, err := app.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the session does not go on: %v", err)
	}
}

// TestNewRelationComputedThroughReplacedView is a hole: a view that read
// only plain values, replaced by another session with CREATE OR REPLACE
// VIEW to compute from an encrypted column, keeps its name and OID, and
// its value is no cell, so neither the name check nor the result check
// sees it (docs/catalog.md).
func TestNewRelationComputedThroughReplacedView(t *testing.T) {
	t.Skip("HOLE: CREATE OR REPLACE VIEW v AS SELECT id, length(s) AS n FROM enc by another session, after this session read its catalog, over a view that computed from plain values: SELECT n FROM v returns the length of the ciphertext (65) where PostgreSQL answers 6; the name is known, the OID unchanged, the value not a cell")
	newrelRun(t, newrelCase{before: []string{"CREATE VIEW %[2]s_vn AS SELECT id, 0 AS n FROM %[1]s"},
		ddl:   []string{"CREATE OR REPLACE VIEW %[2]s_vn AS SELECT id, length(s) AS n FROM %[1]s"},
		query: "SELECT n FROM %[2]s_vn", want: "6\n", warm: true}, pgx.QueryExecModeSimpleProtocol)
}

// TestNewRelationComputedThroughFunction is a hole: a function computing
// from an encrypted column returns no cell, and PostgreSQL records no
// dependency from a function body in a string to the columns it reads,
// so the catalog cannot list it as it lists views (docs/catalog.md).
func TestNewRelationComputedThroughFunction(t *testing.T) {
	t.Skip("HOLE: CREATE FUNCTION f() RETURNS int AS 'SELECT length(s) FROM enc LIMIT 1' (made before or after the catalog read): SELECT f() returns the length of the ciphertext (65) where PostgreSQL answers 6")
	newrelRun(t, newrelCase{ddl: []string{"CREATE FUNCTION %[2]s_fn() RETURNS int LANGUAGE sql AS 'SELECT length(s) FROM %[1]s LIMIT 1'"},
		query: "SELECT %[2]s_fn()", want: "6\n"}, pgx.QueryExecModeSimpleProtocol)
}

// TestNewRelationFunctionFastPath: a function returning an encrypted
// column, called with the fast-path FunctionCall message, returned the
// cell; it is refused (0A000) like the same call in SQL.
func TestNewRelationFunctionFastPath(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	enc := uniqueName("nr_fenc")
	if _, err := su.Exec(ctx, "CREATE TABLE "+enc+" (id int, s text); GRANT ALL ON "+enc+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	app := p.app(t)
	if _, err := app.Exec(ctx, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')"); err != nil {
		t.Fatal(err)
	}
	var fn uint32
	if _, err := su.Exec(ctx, "CREATE FUNCTION "+enc+"_f(int) RETURNS text LANGUAGE sql AS 'SELECT s FROM "+enc+" WHERE id = $1'"); err != nil {
		t.Fatal(err)
	}
	if err := su.QueryRow(ctx, "SELECT $1::regprocedure::oid", enc+"_f(int)").Scan(&fn); err != nil {
		t.Fatal(err)
	}
	res, perr := functionCall(ctx, app.PgConn(), fn, [][]byte{[]byte("1")})
	if perr == nil {
		t.Fatalf("FunctionCall %s_f(1): %q, want the plaintext answer or a refusal", enc, res)
	}
	if perr.Code != "0A000" {
		t.Fatalf("FunctionCall %s_f(1): %v, want 0A000", enc, perr)
	}
	if _, err := app.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the session does not go on: %v", err)
	}
}

// TestNewRelationInRepeatableRead: inside a REPEATABLE READ (or
// SERIALIZABLE) transaction the catalog read sees the transaction's
// snapshot, while PostgreSQL resolves a statement's names on the latest
// catalog, so a view another session made after the snapshot stays
// unknown to the read. It was a hole: the length of the ciphertext (65)
// was served where PostgreSQL answers 6. The read also asks the latest
// catalog about the names it lacks, and the statement is refused with
// 40001; run again in a new transaction it is refused as a view over an
// encrypted column (0A000), a plain view made the same way is served
// then, and a name that resolves to nothing gets PostgreSQL's 42P01,
// not a 40001 a client would retry forever.
func TestNewRelationInRepeatableRead(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	enc := uniqueName("nr_rrenc")
	if _, err := su.Exec(ctx, "CREATE TABLE "+enc+" (id int, s text); GRANT ALL ON "+enc+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	app := p.app(t)
	if _, err := app.Exec(ctx, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')"); err != nil {
		t.Fatal(err)
	}
	for i, level := range []string{"REPEATABLE READ", "SERIALIZABLE"} {
		mode := bothModes[i%len(bothModes)]
		v, pv := uniqueName("nr_rrv"), uniqueName("nr_rrpv")
		if _, err := app.Exec(ctx, "BEGIN ISOLATION LEVEL "+level); err != nil {
			t.Fatal(err)
		}
		if _, err := app.Exec(ctx, "SELECT 1"); err != nil { // the snapshot
			t.Fatal(err)
		}
		if _, err := su.Exec(ctx, "CREATE VIEW "+v+" AS SELECT id, length(s) AS n FROM "+enc+"; GRANT SELECT ON "+v+" TO "+appUser+
			"; CREATE VIEW "+pv+" AS SELECT id, 6 AS n FROM "+enc+"; GRANT SELECT ON "+pv+" TO "+appUser); err != nil {
			t.Fatal(err)
		}
		got, err := rt4Rows(app, "SELECT n FROM "+v, mode)
		if err == nil {
			t.Fatalf("%s, %v: got %q where the plaintext database answers \"6\\n\"", level, mode, got)
		}
		wantPgError(t, err, "40001")
		if _, err := app.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		// The transaction run again.
		for _, q := range []string{"BEGIN ISOLATION LEVEL " + level, "SELECT 1"} {
			if _, err := app.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		_, err = rt4Rows(app, "SELECT n FROM "+v, mode)
		wantPgError(t, err, "0A000")
		if _, err := app.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		if got, err := rt4Rows(app, "SELECT n FROM "+pv, mode); err != nil || got != "6\n" {
			t.Fatalf("%s: the plain view: %q, %v", level, got, err)
		}
		for _, q := range []string{"BEGIN ISOLATION LEVEL " + level, "SELECT 1"} {
			if _, err := app.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		_, err = rt4Rows(app, "SELECT n FROM "+v+"_none", mode)
		wantPgError(t, err, "42P01")
		if _, err := app.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNewRelationSameNameOtherSchema: a view made in another schema
// under the name of an existing relation, named with its schema, is a
// name the catalog lacks (it lists names with their schemas), so the
// catalog is read first and the view refused; it was a hole: the catalog
// listed names without their schemas, and the length of the ciphertext
// (65) was served where PostgreSQL answers 6.
func TestNewRelationSameNameOtherSchema(t *testing.T) {
	t.Parallel()
	newrelRun(t, newrelCase{before: []string{"CREATE TABLE %[2]s_x (id int)"},
		ddl: []string{"CREATE SCHEMA %[2]s_s", "GRANT USAGE ON SCHEMA %[2]s_s TO " + appUser,
			"CREATE VIEW %[2]s_s.%[2]s_x AS SELECT id, length(s) AS n FROM %[1]s", "GRANT SELECT ON %[2]s_s.%[2]s_x TO " + appUser},
		query: "SELECT n FROM %[2]s_s.%[2]s_x", want: "6\n"}, pgx.QueryExecModeSimpleProtocol)
}
