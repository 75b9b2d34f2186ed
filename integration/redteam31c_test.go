package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/config"
)

// Red team of the catalog's schema-qualified names and its 40001 check
// (review31c, on cbe7cbd): a relation another session makes after this
// session read its catalog must be refused or answered as the plaintext
// database answers, and none made before wrongly refused.

// rt31cProxy makes an encrypted table (id int, s text encrypted, holding
// (1, 'secret')) and a phiguard session over it that has read its
// catalog.
func rt31cProxy(t *testing.T, configure ...func(*config.Config)) (su, app *pgx.Conn, enc string) {
	t.Helper()
	ctx := testContext(t)
	su = superuser(t)
	enc = uniqueName("rt31c_enc")
	if _, err := su.Exec(ctx, "CREATE TABLE "+enc+" (id int, s text); GRANT ALL ON "+enc+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	opts := proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))}
	if len(configure) > 0 {
		opts.configure = configure[0]
	}
	p := startProxy(t, opts)
	app = p.app(t)
	if _, err := app.Exec(ctx, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')"); err != nil {
		t.Fatal(err)
	}
	return su, app, enc
}

func rt31cExec(t *testing.T, c *pgx.Conn, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := c.Exec(testContext(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// rt31cAnswer fails unless q answers want or is refused by phiguard.
func rt31cAnswer(t *testing.T, app *pgx.Conn, q, want string, mode pgx.QueryExecMode) {
	t.Helper()
	got, err := rt4Rows(app, q, mode)
	if err == nil && got != want {
		t.Fatalf("%s: got %q where the plaintext database answers %q", q, got, want)
	}
	if err != nil {
		if code := rt4Code(err); code == "client" || code == "" {
			t.Fatalf("%s: not a refusal from phiguard: %v", q, err)
		}
		t.Logf("%s: refused: %v", q, err)
	}
}

// TestRedTeam31cNameInUnrelatedSchema: an unqualified name counted as
// known when the catalog listed it in any schema, not only one on the
// search_path: a view made in public by another session under the name
// of a table in a schema nobody searches (another tenant's, an archive)
// was not read before the statement, and served 65 where PostgreSQL
// answers 6. The catalog reads the search path now; more shapes in
// TestSearchPathFollowed.
func TestRedTeam31cNameInUnrelatedSchema(t *testing.T) {
	t.Parallel()
	for _, mode := range bothModes {
		newrelRun(t, newrelCase{before: []string{"CREATE SCHEMA %[2]s_o", "CREATE TABLE %[2]s_o.%[2]s_x (id int)"},
			ddl:   []string{"CREATE VIEW %[2]s_x AS SELECT id, length(s) AS n FROM %[1]s"},
			query: "SELECT n FROM %[2]s_x", want: "6\n"}, mode)
	}
}

// TestRedTeam31cCreateTableAsFromView: CREATE TABLE AS (DDL, which the
// name check and the view refusal skipped) copied what a view over an
// encrypted column computes into a plain table: the length of the
// ciphertext (65) where PostgreSQL stores 6, then served from the copy,
// whether the catalog knew the view or another session made it since.
// It is refused now (0A000, the view named), like SELECT INTO.
func TestRedTeam31cCreateTableAsFromView(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	old, fresh := enc+"_old", enc+"_new"
	rt31cExec(t, su, "CREATE VIEW "+old+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+old+" TO "+appUser)
	if _, err := app.Exec(ctx, "DISCARD PLANS"); err != nil { // the catalog read after, lists old
		t.Fatal(err)
	}
	rt31cExec(t, su, "CREATE VIEW "+fresh+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+fresh+" TO "+appUser)
	// What a migration copies from plain relations is not refused.
	for _, q := range []string{"CREATE TABLE " + enc + "_p1 AS SELECT 1 AS k", "CREATE TABLE " + enc + "_p2 AS SELECT id FROM " + enc,
		"CREATE TABLE " + enc + "_p3 AS WITH w AS (SELECT 2 AS k) SELECT k FROM w"} {
		rt31cExec(t, app, q)
	}
	for _, v := range []string{old, fresh} {
		for _, ddl := range []string{"CREATE TABLE %s_t AS SELECT n FROM %s", "CREATE TABLE %s_t AS TABLE %s",
			"CREATE MATERIALIZED VIEW %s_t AS SELECT n FROM %s"} {
			ddl = fmt.Sprintf(ddl, v, v)
			if _, err := app.Exec(ctx, ddl); err != nil {
				if code := rt4Code(err); code == "client" || code == "" {
					t.Fatalf("%s: %v", ddl, err)
				}
				t.Logf("%s: refused: %v", ddl, err)
				continue
			}
			rt31cAnswer(t, app, "SELECT n FROM "+v+"_t", "6\n", pgx.QueryExecModeSimpleProtocol)
			rt31cExec(t, app, "DROP "+map[bool]string{true: "MATERIALIZED VIEW", false: "TABLE"}[strings.Contains(ddl, "MATERIALIZED")]+" "+v+"_t")
		}
	}
}

// TestRedTeam31cSeventeenthName: the read before a statement asks the
// latest catalog about the first 16 names the catalog lacks; a
// REPEATABLE READ statement naming 16 tables it makes itself first, and
// then a view another session made after the snapshot, is not refused.
func TestRedTeam31cSeventeenthName(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	v := enc + "_v17"
	rt31cExec(t, app, "BEGIN ISOLATION LEVEL REPEATABLE READ", "SELECT 1")
	rt31cExec(t, su, "CREATE VIEW "+v+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+v+" TO "+appUser)
	var mk, from []string
	for i := range 16 {
		n := fmt.Sprintf("%s_t%d", enc, i)
		mk = append(mk, "CREATE TEMP TABLE "+n+" AS SELECT 1 AS k")
		from = append(from, n)
	}
	q := strings.Join(mk, "; ") + "; SELECT n FROM " + strings.Join(from, " NATURAL JOIN ") + " CROSS JOIN " + v
	res, err := app.PgConn().Exec(ctx, q).ReadAll()
	got := ""
	if err == nil && len(res) > 0 {
		for _, r := range res[len(res)-1].Rows {
			got += string(r[0]) + "\n"
		}
	}
	if err == nil && got != "6\n" {
		t.Fatalf("got %q where the plaintext database answers \"6\\n\"", got)
	}
	if err != nil && rt4Code(err) != "40001" && rt4Code(err) != "0A000" {
		t.Fatalf("%v, want the answer 6 or a refusal", err)
	}
	if _, err := app.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

// TestRedTeam31cViewNamedLikeOutOfScopeCTE: a WITH query's name counted
// as bound wherever the statement names it, also outside the WITH's
// scope, where PostgreSQL reads the relation of that name: a view made
// since under the name of a WITH query in a subquery was not read before
// the statement, and served the length of a ciphertext.
func TestRedTeam31cViewNamedLikeOutOfScopeCTE(t *testing.T) {
	t.Parallel()
	for _, q := range []string{
		"SELECT v.n FROM (WITH %[2]s_w AS (SELECT 1 AS k) SELECT k FROM %[2]s_w) a, %[2]s_w v",
		"WITH a AS (SELECT n FROM %[2]s_w), %[2]s_w AS (SELECT 1 AS n) SELECT n FROM a",
		"SELECT n FROM %[2]s_w WHERE EXISTS (WITH %[2]s_w AS (SELECT 1) SELECT FROM %[2]s_w)",
	} {
		for _, mode := range bothModes {
			newrelRun(t, newrelCase{ddl: []string{"CREATE VIEW %[2]s_w AS SELECT id, length(s) AS n FROM %[1]s"},
				query: q, want: "6\n"}, mode)
		}
	}
}

// What held (cheap checks): quoted mixed-case schema and names, a name
// longer than 63 bytes (PostgreSQL and phiguard truncate it alike), a
// three-part name and a U&"" name, made since, are read before the
// statement and refused; the same outside REPEATABLE READ after a
// search_path set local to the new schema; a plain relation of a long
// name made before is served, not refused.
func TestRedTeam31cNamesHeld(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("l", 70)
	for _, c := range []struct{ ddl, query string }{
		{`CREATE SCHEMA "%[2]s_S"; GRANT USAGE ON SCHEMA "%[2]s_S" TO ` + appUser + `; CREATE VIEW "%[2]s_S"."%[2]s_X" AS SELECT id, length(s) AS n FROM %[1]s; GRANT SELECT ON "%[2]s_S"."%[2]s_X" TO ` + appUser,
			`SELECT n FROM "%[2]s_S"."%[2]s_X"`},
		{`CREATE VIEW %[2]s_` + long + ` AS SELECT id, length(s) AS n FROM %[1]s`, `SELECT n FROM %[2]s_` + long},
		{`CREATE VIEW %[2]s_db AS SELECT id, length(s) AS n FROM %[1]s`, `SELECT n FROM appdb.public.%[2]s_db`},
		{`CREATE VIEW %[2]s_u AS SELECT id, length(s) AS n FROM %[1]s`, `SELECT n FROM U&"%[2]s\005f\0075"`},
	} {
		for _, mode := range bothModes {
			newrelRun(t, newrelCase{ddl: []string{c.ddl}, query: c.query, want: "6\n"}, mode)
		}
	}
	newrelRun(t, newrelCase{before: []string{`CREATE TABLE %[2]s_` + long + ` AS SELECT 1 AS id, 'hello'::text AS s`},
		query: `SELECT s FROM %[2]s_` + long, want: "hello\n", plain: true}, pgx.QueryExecModeExec)
}

// TestRedTeam31cRepeatableReadHeld: inside REPEATABLE READ, a view made
// after the snapshot is refused with 40001 however the statement names
// it (a long name, a three-part name, a quoted schema, unqualified under
// a search_path set local to its schema, a COPY (query), a DECLARE) and
// under functions named to_regclass and pg_identify_object in a schema
// before pg_catalog; the transaction run again is refused 0A000, never
// 40001 again.
func TestRedTeam31cRepeatableReadHeld(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	long := strings.Repeat("q", 70)
	sch := enc + "_Sch"
	rt31cExec(t, su, `CREATE SCHEMA "`+sch+`"`, `GRANT USAGE ON SCHEMA "`+sch+`" TO `+appUser,
		`CREATE FUNCTION "`+sch+`".to_regclass(text) RETURNS regclass LANGUAGE sql AS 'SELECT NULL::regclass'`,
		`CREATE FUNCTION "`+sch+`".pg_identify_object(oid, oid, int) RETURNS record LANGUAGE sql AS 'SELECT NULL::record'`)
	for i, c := range []struct{ set, view, query string }{
		{"", enc + "_" + long, "SELECT n FROM " + enc + "_" + long},
		{"", enc + "_db", "SELECT n FROM appdb.public." + enc + "_db"},
		{"", `"` + sch + `"."V"`, `SELECT n FROM "` + sch + `"."V"`},
		{`SET LOCAL search_path = "` + sch + `", public`, `"` + sch + `".v2`, "SELECT n FROM v2"},
		{`SET LOCAL search_path = "` + sch + `", pg_catalog, public`, enc + "_sh", "SELECT n FROM " + enc + "_sh"},
		{"", enc + "_cp", "COPY (SELECT n FROM " + enc + "_cp) TO STDOUT"},
		{"", enc + "_dc", "DECLARE c CURSOR FOR SELECT n FROM " + enc + "_dc"},
	} {
		mode := bothModes[i%len(bothModes)]
		for attempt := 0; attempt < 2; attempt++ {
			rt31cExec(t, app, "BEGIN ISOLATION LEVEL REPEATABLE READ")
			if c.set != "" {
				rt31cExec(t, app, c.set)
			}
			rt31cExec(t, app, "SELECT 1")
			if attempt == 0 {
				rt31cExec(t, su, "CREATE VIEW "+c.view+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+c.view+" TO "+appUser)
			}
			var err error
			if strings.HasPrefix(c.query, "COPY") {
				var out strings.Builder
				_, err = app.PgConn().CopyTo(ctx, &out, c.query)
				if err == nil {
					t.Fatalf("%s: copied %q", c.query, out.String())
				}
			} else if strings.HasPrefix(c.query, "DECLARE") {
				_, err = app.Exec(ctx, c.query)
				if err == nil {
					_, err = rt4Rows(app, "FETCH ALL FROM c", mode)
				}
			} else {
				var got string
				got, err = rt4Rows(app, c.query, mode)
				if err == nil {
					t.Fatalf("%s: got %q where the plaintext database answers \"6\\n\"", c.query, got)
				}
			}
			wantPgError(t, err, map[int]string{0: "40001", 1: "0A000"}[attempt])
			rt31cExec(t, app, "ROLLBACK")
		}
	}
}

// TestRedTeam31cWriteTargetNamedLikeCTE: an INSERT's target is never a
// WITH query; a view made since under the name of the statement's WITH
// query was taken for it, not read before the write, and the value went
// through it to the encrypted column in clear.
func TestRedTeam31cWriteTargetNamedLikeCTE(t *testing.T) {
	t.Parallel()
	for _, mode := range bothModes {
		newrelWriteRun(t, newrelWriteCase{ddl: []string{"CREATE VIEW %[2]s_cw AS SELECT id, s FROM %[1]s"},
			write: "WITH %[2]s_cw AS (SELECT 1) INSERT INTO %[2]s_cw (id, s) VALUES (2, '%[3]s')"}, mode)
	}
}

// TestRedTeam31cLockedAlias: FOR UPDATE OF names a FROM item (an alias,
// as Hibernate writes it), not a relation, but counted as a relation
// name the catalog lacks: every such statement had the catalog read
// before it, and inside REPEATABLE READ a relation another session made
// after the snapshot under the alias's name refused it with 40001 where
// PostgreSQL answers.
func TestRedTeam31cLockedAlias(t *testing.T) {
	t.Parallel()
	_, app, enc := rt31cProxy(t)
	su := superuser(t)
	al := enc + "_al"
	rt31cExec(t, app, "BEGIN ISOLATION LEVEL REPEATABLE READ", "SELECT 1")
	rt31cExec(t, su, "CREATE TABLE "+al+" (k int)")
	for _, mode := range bothModes {
		q := "SELECT id FROM " + enc + " AS " + al + " FOR UPDATE OF " + al
		if got, err := rt4Rows(app, q, mode); err != nil || got != "1\n" {
			t.Fatalf("%s, %v: %q, %v where PostgreSQL answers \"1\\n\"", q, mode, got, err)
		}
	}
	rt31cExec(t, app, "ROLLBACK")
}

// TestRedTeam31cNewViewReadInPipeline: a read of a view made since,
// Parsed after the first message of a pipeline (a pgx batch), where the
// catalog cannot be read before it, served the length of a ciphertext
// (65) where PostgreSQL answers 6. It is refused with 40001 and, run
// again, refused as a view over an encrypted column; a plain view made
// since is served when run again; a name that does not exist gets
// PostgreSQL's 42P01 the second time, not 40001 forever.
func TestRedTeam31cNewViewReadInPipeline(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	v, pv := enc+"_pv", enc+"_ppv"
	if _, err := app.Exec(ctx, "SELECT 1"); err != nil { // the catalog is read
		t.Fatal(err)
	}
	runs := 0
	batch := func(rel string) (int, error) {
		b := &pgx.Batch{}
		runs++
		b.Queue(fmt.Sprintf("SELECT %d AS first", runs)) // a new text: pgx Parses it, first in the pipeline
		var got int
		b.Queue("SELECT n FROM " + rel).QueryRow(func(r pgx.Row) error { return r.Scan(&got) })
		err := app.SendBatch(ctx, b).Close()
		if err == nil && got != 6 {
			t.Fatalf("%s: got %d where the plaintext database answers 6", rel, got)
		}
		return got, err
	}
	for _, c := range []struct{ rel, def, first, again string }{
		{v, "length(s)", "40001", "0A000"}, {pv, "6", "40001", ""}, {enc + "_none", "", "40001", "42P01"},
	} {
		if c.def != "" { // made by another session after this one read its catalog
			rt31cExec(t, su, "CREATE VIEW "+c.rel+" AS SELECT id, "+c.def+" AS n FROM "+enc, "GRANT SELECT ON "+c.rel+" TO "+appUser)
		}
		_, err := batch(c.rel)
		wantPgError(t, err, c.first)
		_, err = batch(c.rel)
		if c.again == "" && err != nil {
			t.Fatalf("%s run again: %v", c.rel, err)
		} else if c.again != "" {
			wantPgError(t, err, c.again)
		}
	}
}

// TestRedTeam31cSavepointHeld: in SERIALIZABLE READ ONLY DEFERRABLE, a
// view made after the snapshot, read inside a savepoint, is refused with
// 40001; after ROLLBACK TO the transaction goes on (the protected table
// is read), and run again the view is refused 0A000.
func TestRedTeam31cSavepointHeld(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	v := enc + "_sp"
	rt31cExec(t, app, "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE", "SELECT 1", "SAVEPOINT a")
	rt31cExec(t, su, "CREATE VIEW "+v+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+v+" TO "+appUser)
	_, err := rt4Rows(app, "SELECT n FROM "+v, pgx.QueryExecModeCacheStatement)
	wantPgError(t, err, "40001")
	rt31cExec(t, app, "ROLLBACK TO SAVEPOINT a")
	if got, err := rt4Rows(app, "SELECT s FROM "+enc, pgx.QueryExecModeCacheStatement); err != nil || got != "secret\n" {
		t.Fatalf("after ROLLBACK TO: %q, %v", got, err)
	}
	rt31cExec(t, app, "ROLLBACK", "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE")
	_, err = rt4Rows(app, "SELECT n FROM "+v, pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "0A000")
	rt31cExec(t, app, "ROLLBACK")
}

// TestRedTeam31cGeneratedColumnByAnotherSession: a generated column
// computed from an encrypted column, which phiguard refuses to add
// through itself (0A000), added by another session after the catalog
// read: the catalog read again (a column it lacked, 40001 once) listed
// it as a plain column of the protected table, and it served the length
// of the ciphertext (65 where PostgreSQL answers 6). The catalog lists
// it as computed from an encrypted column now, and a statement reading
// it is refused (0A000); more shapes in TestGeneratedColumnComputedShapes.
func TestRedTeam31cGeneratedColumnByAnotherSession(t *testing.T) {
	t.Parallel()
	su, app, enc := rt31cProxy(t)
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD COLUMN n int GENERATED ALWAYS AS (length(s)) STORED")
	for range 2 { // the first may be refused with 40001: the table's columns changed
		rt31cAnswer(t, app, "SELECT n FROM "+enc, "6\n", pgx.QueryExecModeSimpleProtocol)
	}
}
