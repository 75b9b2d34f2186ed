package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// rt36Step is a statement of a sequence, run by the session's own
// connection (other false) or by a second session (through phiguard on
// phiguard's side). Its text takes {p} (the people table), {x} (a plain
// table (n int, tag text) holding 't1', owned by the application user)
// and {s} (an empty schema it may use and create in).
type rt36Step struct {
	other, su bool // a second session; the superuser directly
	sql       string
	// prep prepares sql as the named statement rt36 (extended protocol),
	// exec binds and runs it.
	prep, exec bool
}

// rt36Sel reads {x}'s tag unqualified inside a subquery over the
// people table's encrypted tag.
const rt36Sel = "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE tag = 't1')"

// rt36SelQ is rt36Sel naming {x} with its schema.
const rt36SelQ = "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM public.{x} WHERE tag = 't1')"

// rt36Seq runs steps on each side, directly and through phiguard, each
// step a simple Query, and compares the last step's answers (the same,
// or phiguard refused 0A000); every earlier step must fail on both sides
// or on neither.
func (f *sortFixture) rt36Seq(t *testing.T, what string, steps []rt36Step) {
	t.Helper()
	var out [2]string
	var errs [2]error
	for side := range 2 {
		conns := [2]*pgx.Conn{direct(t), direct(t)}
		if side == 1 {
			conns = [2]*pgx.Conn{f.p.app(t), f.p.app(t)}
		}
		x, s := uniqueName("rt36_x"), uniqueName("rt36_s")
		if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(`CREATE TABLE %[1]s (n int, tag text); INSERT INTO %[1]s VALUES (1, 'zz');
			GRANT ALL ON %[1]s TO %[2]s; ALTER TABLE %[1]s OWNER TO %[2]s; CREATE SCHEMA %[3]s AUTHORIZATION %[2]s`, x, appUser, s)); err != nil {
			t.Fatal(err)
		}
		r := strings.NewReplacer("{p}", f.people[side], "{x}", x, "{s}", s)
		for i, st := range steps {
			conn := conns[0]
			if st.other {
				conn = conns[1]
			}
			if st.su {
				conn = superuser(t)
			}
			got, err := rt36Run(t, conn, st, r.Replace(st.sql))
			if i == len(steps)-1 {
				out[side], errs[side] = got, err
			} else if err != nil {
				t.Logf("%s: side %d step %d %q: %v", what, side, i, st.sql, err)
			}
		}
	}
	t.Logf("%s: directly %q %v, through phiguard %q %v", what, out[0], errs[0], out[1], errs[1])
	rt35bSame(t, what, out[0], out[1], errs[0], errs[1])
}

// TestRedTeam36Sequences: the plan made knowing the catalog after the
// catalog may have changed: other sessions' DDL, search path changes,
// transactions.
func TestRedTeam36Sequences(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, bindNamesByCatalog)
	me := func(sql string) rt36Step { return rt36Step{sql: sql} }
	other := func(sql string) rt36Step { return rt36Step{other: true, sql: sql} }
	for _, c := range []struct {
		what  string
		steps []rt36Step
	}{
		{"other session drops the column", []rt36Step{me(rt36Sel), other("ALTER TABLE {x} DROP COLUMN tag"), me(rt36Sel)}},
		{"other session renames the column", []rt36Step{me(rt36Sel), other("ALTER TABLE {x} RENAME COLUMN tag TO label"), me(rt36Sel)}},
		{"other session makes {s}.{x} first on the path", []rt36Step{me("SET search_path = {s}, public"), me(rt36Sel), other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), me(rt36Sel)}},
		{"REPEATABLE READ, other session drops the column", []rt36Step{me("BEGIN ISOLATION LEVEL REPEATABLE READ"), me("SELECT count(*) FROM {p}"), other("ALTER TABLE {x} DROP COLUMN tag"), me(rt36Sel)}},
		{"REPEATABLE READ, other session renames the column", []rt36Step{me("BEGIN ISOLATION LEVEL REPEATABLE READ"), me("SELECT 1"), other("ALTER TABLE {x} RENAME COLUMN tag TO label"), me(rt36Sel)}},
		{"REPEATABLE READ, other session drops the column of public.{x}", []rt36Step{me("BEGIN ISOLATION LEVEL REPEATABLE READ"), me("SELECT count(*) FROM {p}"), other("ALTER TABLE {x} DROP COLUMN tag"), me(rt36SelQ)}},
		{"SERIALIZABLE, other session renames public.{x} and makes a view", []rt36Step{me("BEGIN ISOLATION LEVEL SERIALIZABLE"), me("SELECT count(*) FROM {p}"), other("ALTER TABLE {x} RENAME TO {x}_old; CREATE VIEW {x} AS SELECT n FROM {x}_old"), me(rt36SelQ)}},
		{"REPEATABLE READ, nothing changed, public.{x}", []rt36Step{me("BEGIN ISOLATION LEVEL REPEATABLE READ"), me("SELECT count(*) FROM {p}"), me(rt36SelQ)}},
		{"REPEATABLE READ, other session makes the view {s}.{x}", []rt36Step{me("SET search_path = {s}, public"), me("BEGIN ISOLATION LEVEL REPEATABLE READ"), me("SELECT count(*) FROM {p}"), other("CREATE VIEW {s}.{x} AS SELECT 1 AS n"), me(rt36Sel)}},
		{"SERIALIZABLE, other session drops the table, makes a view", []rt36Step{me("BEGIN ISOLATION LEVEL SERIALIZABLE"), me("SELECT count(*) FROM {p}"), other("ALTER TABLE {x} RENAME TO {x}_old; CREATE VIEW {x} AS SELECT n FROM {x}_old"), me(rt36Sel)}},
		{"set_config earlier in the Query", []rt36Step{other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), me(rt36Sel), me("SELECT pg_catalog.set_config('search_path', '{s}, public', false); " + rt36Sel)}},
		{"SET earlier in the Query", []rt36Step{other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), me(rt36Sel), me("SET search_path = {s}, public; " + rt36Sel)}},
		{"SET in a transaction, rolled back", []rt36Step{other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), me("BEGIN"), me("SET search_path = {s}, public"), me(rt36Sel), me("ROLLBACK"), me(rt36Sel)}},
		{"SET LOCAL, then the transaction's end", []rt36Step{other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), me("BEGIN"), me("SET LOCAL search_path = {s}, public"), me(rt36Sel), me("COMMIT"), me(rt36Sel)}},
		{"SET LOCAL, in the transaction", []rt36Step{other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), me(rt36Sel), me("BEGIN"), me("SET LOCAL search_path = {s}, public"), me(rt36Sel)}},
		{"set_config local in a SELECT", []rt36Step{other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), me(rt36Sel), me("BEGIN"), me("SELECT set_config('search_path', '{s}, public', true)"), me(rt36Sel)}},
		{"temp table of the session", []rt36Step{me(rt36Sel), me("CREATE TEMP TABLE {x} AS SELECT 1 AS n"), me(rt36Sel)}},
		{"sequence first on the path", []rt36Step{other("CREATE SEQUENCE {s}.{x}"), me("SET search_path = {s}, public"), me(rt36Sel)}},
		{"view without the column first on the path", []rt36Step{other("CREATE VIEW {s}.{x} AS SELECT 1 AS n"), me("SET search_path = {s}, public"), me(rt36Sel)}},
		{"composite type first on the path", []rt36Step{other("CREATE TYPE {s}.{x} AS (n int)"), me("SET search_path = {s}, public"), me(rt36Sel)}},
		{"index first on the path", []rt36Step{other("CREATE TABLE {s}.{x}_t (n int); CREATE INDEX {x} ON {s}.{x}_t (n)"), me("SET search_path = {s}, public"), me(rt36Sel)}},
		{"schema granted later", []rt36Step{other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), me("SET search_path = {s}, public"), other("REVOKE USAGE ON SCHEMA {s} FROM PUBLIC"), me(rt36Sel)}},
	} {
		f.rt36Seq(t, c.what, c.steps)
	}
}

// TestRedTeam36FunctionsAndSnapshot: what the session's catalog cannot
// see: a function (made directly on the database) that makes a
// temporary table or sets the search path, called through phiguard; a
// column dropped or a table made straight on the database. The plan
// made knowing the catalog sends the name qualified (x.tag), so
// PostgreSQL fails the statement, which phiguard refuses, where it
// bound tag to the outer encrypted column with 't1' in clear before
// (sqlrewrite/scope_qualify.go).
func TestRedTeam36FunctionsAndSnapshot(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, bindNamesByCatalog)
	me := func(sql string) rt36Step { return rt36Step{sql: sql} }
	other := func(sql string) rt36Step { return rt36Step{other: true, sql: sql} }
	su := func(sql string) rt36Step { return rt36Step{su: true, sql: sql} }
	prep := rt36Step{prep: true, sql: rt36Sel}
	exec := rt36Step{exec: true}
	for _, c := range []struct {
		what  string
		steps []rt36Step
	}{
		{"temp table made in a function", []rt36Step{me(rt36Sel), su("CREATE FUNCTION {s}.mk() RETURNS int LANGUAGE plpgsql AS $$BEGIN CREATE TEMP TABLE {x} AS SELECT 1 AS n; RETURN 1; END$$"), me("SELECT {s}.mk()"), me(rt36Sel)}},
		{"column dropped directly on the database", []rt36Step{me(rt36Sel), su("ALTER TABLE {x} DROP COLUMN tag"), me(rt36Sel)}},
		{"column dropped directly, then run again", []rt36Step{me(rt36Sel), su("ALTER TABLE {x} DROP COLUMN tag"), me(rt36Sel), me(rt36Sel)}},
		{"table made directly first on the path", []rt36Step{me("SET search_path = {s}, public"), me(rt36Sel), su("CREATE TABLE {s}.{x} AS SELECT 1 AS n; GRANT SELECT ON {s}.{x} TO PUBLIC"), me(rt36Sel)}},
		{"path set in a function", []rt36Step{other("CREATE TABLE {s}.{x} AS SELECT 1 AS n"), su("CREATE FUNCTION {s}.sp() RETURNS text LANGUAGE sql AS $$SELECT set_config('search_path', '{s}, public', false)$$"), me(rt36Sel), me("SELECT {s}.sp()"), me(rt36Sel)}},
		{"prepared, column dropped directly, bound", []rt36Step{prep, exec, su("ALTER TABLE {x} DROP COLUMN tag"), exec}},
		{"prepared, column dropped directly, bound twice", []rt36Step{prep, exec, su("ALTER TABLE {x} DROP COLUMN tag"), exec, exec}},
		{"prepared after a temp table made in a function", []rt36Step{me(rt36Sel), su("CREATE FUNCTION {s}.mk() RETURNS int LANGUAGE plpgsql AS $$BEGIN CREATE TEMP TABLE {x} AS SELECT 1 AS n; RETURN 1; END$$"), me("SELECT {s}.mk()"), prep}},
	} {
		f.rt36Seq(t, c.what, c.steps)
	}
}

// TestRedTeam36RenamedAfterSnapshot is the case the qualifier does not
// answer: the catalog says the inner table lacks the name, so the plan
// binds it to the outer encrypted column, and it has the name by the
// time the statement runs (in REPEATABLE READ, the catalog read in the
// transaction's snapshot predates the rename). The probe in x's WHERE
// (sqlrewrite/scope_probe.go) is resolved from the catalog as it is when
// the statement is parsed, not from the snapshot, so the statement is
// refused; before the probe (a HOLE) it answered 0 where PostgreSQL
// answers 60. The same class as TestRedTeam35bDirectDDL.
func TestRedTeam36RenamedAfterSnapshot(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, bindNamesByCatalog)
	me := func(sql string) rt36Step { return rt36Step{sql: sql} }
	other := func(sql string) rt36Step { return rt36Step{other: true, sql: sql} }
	su := func(sql string) rt36Step { return rt36Step{su: true, sql: sql} }
	f.rt36Seq(t, "REPEATABLE READ, other session renames a column to tag", []rt36Step{su("INSERT INTO {x} VALUES (2, 't1'); ALTER TABLE {x} RENAME COLUMN tag TO label"), me("BEGIN ISOLATION LEVEL REPEATABLE READ"), me("SELECT count(*) FROM {p}"), other("ALTER TABLE {x} RENAME COLUMN label TO tag"), me(rt36Sel)})
}

// rt36Run runs one step: a simple Query, or a Parse or a Bind and
// Execute of the named statement rt36.
func rt36Run(t *testing.T, conn *pgx.Conn, st rt36Step, sql string) (string, error) {
	t.Helper()
	switch {
	case st.prep:
		_, err := conn.PgConn().Prepare(testContext(t), "rt36", sql, nil)
		return "", err
	case st.exec:
		res := conn.PgConn().ExecPrepared(testContext(t), "rt36", nil, nil, nil).Read()
		if res.Err != nil {
			return "", res.Err
		}
		var b strings.Builder
		for _, row := range res.Rows {
			b.Write(row[0])
			b.WriteString("\n")
		}
		return sortedLines(b.String()), nil
	}
	return rt35bLast(t, conn, sql)
}

// TestRedTeam36Prepared: a statement prepared under one catalog, bound
// under another; the plan kept on the analysis served to a session
// whose path finds another table.
func TestRedTeam36Prepared(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, bindNamesByCatalog)
	me := func(sql string) rt36Step { return rt36Step{sql: sql} }
	other := func(sql string) rt36Step { return rt36Step{other: true, sql: sql} }
	prep := rt36Step{prep: true, sql: rt36Sel}
	exec := rt36Step{exec: true}
	for _, c := range []struct {
		what  string
		steps []rt36Step
	}{
		{"prepared, other session drops the column, bound", []rt36Step{prep, exec, other("ALTER TABLE {x} DROP COLUMN tag"), exec}},
		{"prepared, other session makes {s}.{x}, path set, bound", []rt36Step{prep, exec, other("CREATE VIEW {s}.{x} AS SELECT 1 AS n"), me("SET search_path = {s}, public"), exec}},
		{"prepared, path set, bound", []rt36Step{other("CREATE VIEW {s}.{x} AS SELECT 1 AS n"), prep, exec, me("SET search_path = {s}, public"), exec}},
		{"prepared, path set in a rolled back transaction, bound", []rt36Step{other("CREATE VIEW {s}.{x} AS SELECT 1 AS n"), me("SET search_path = {s}, public"), prep, me("BEGIN"), me("SET LOCAL search_path = public"), exec, me("ROLLBACK"), exec}},
		{"prepared, temp table made, bound", []rt36Step{prep, exec, me("CREATE TEMP TABLE {x} AS SELECT 1 AS n"), exec}},
		{"prepared, temp table made, a query, bound", []rt36Step{prep, exec, me("CREATE TEMP TABLE {x} AS SELECT 1 AS n"), me("SELECT 1"), exec}},
		{"prepared, temp table made, other parse, bound", []rt36Step{prep, exec, me("CREATE TEMP TABLE {x} AS SELECT 1 AS n"), me(rt36Sel), exec}},
		{"prepared after the temp table, bound", []rt36Step{me(rt36Sel), me("CREATE TEMP TABLE {x} AS SELECT 1 AS n"), prep, exec}},
		{"prepared in REPEATABLE READ, other session makes {s}.{x}, bound", []rt36Step{me("SET search_path = {s}, public"), me("BEGIN ISOLATION LEVEL REPEATABLE READ"), me("SELECT 1"), prep, other("CREATE VIEW {s}.{x} AS SELECT 1 AS n"), exec}},
		{"kept plan, another session's path", []rt36Step{other("CREATE VIEW {s}.{x} AS SELECT 1 AS n"), me(rt36Sel), prep, exec, other("SET search_path = {s}, public"), other(rt36Sel)}},
		{"kept plan, another session's path, prepared", []rt36Step{other("CREATE VIEW {s}.{x} AS SELECT 1 AS n"), me(rt36Sel), prep, exec, other("SET search_path = {s}, public"), {other: true, prep: true, sql: rt36Sel}, {other: true, exec: true}}},
		{"kept plan, another session's temp table", []rt36Step{me(rt36Sel), other("CREATE TEMP TABLE {x} AS SELECT 1 AS n"), other(rt36Sel)}},
	} {
		f.rt36Seq(t, c.what, c.steps)
	}
}

// TestRedTeam36InnerOverEncrypted: the inner relation that has the name
// is itself over the encrypted column (a view, a materialized view made
// directly; through phiguard, CREATE VIEW and CREATE TABLE AS over it
// are refused): its tag holds ciphertexts, so a constant sent in clear
// for it would match none. Refused by name (encViews).
func TestRedTeam36InnerOverEncrypted(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, bindNamesByCatalog)
	me := func(sql string) rt36Step { return rt36Step{sql: sql} }
	su := func(sql string) rt36Step { return rt36Step{su: true, sql: sql} }
	sel := "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x}_v WHERE tag = 't1')"
	for _, c := range []struct {
		what  string
		steps []rt36Step
	}{
		{"view made directly", []rt36Step{su("CREATE VIEW {x}_v AS SELECT id, tag FROM {p}; GRANT SELECT ON {x}_v TO PUBLIC"), me(sel)}},
		{"view made directly, renamed column", []rt36Step{su("CREATE VIEW {x}_v AS SELECT id, name AS tag FROM {p}; GRANT SELECT ON {x}_v TO PUBLIC"), me(sel)}},
		{"view made directly, after the read", []rt36Step{me(rt36Sel), su("CREATE VIEW {x}_v AS SELECT id, tag FROM {p}; GRANT SELECT ON {x}_v TO PUBLIC"), me(sel)}},
		{"materialized view made directly", []rt36Step{su("CREATE MATERIALIZED VIEW {x}_v AS SELECT id, tag FROM {p}; GRANT SELECT ON {x}_v TO PUBLIC"), me(sel)}},
		{"view in a subquery of a subquery", []rt36Step{su("CREATE VIEW {x}_v AS SELECT id, tag FROM {p}; GRANT SELECT ON {x}_v TO PUBLIC"), me("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM (SELECT * FROM {x}_v) q WHERE tag = 't1')")}},
	} {
		f.rt36Seq(t, c.what, c.steps)
	}
}
