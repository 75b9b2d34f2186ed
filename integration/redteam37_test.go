package integration

import (
	"strings"
	"testing"
)

// TestRedTeam37InnerBinding: a name the catalog binds to an inner
// table's column is sent qualified (x.tag) with the item PostgreSQL binds
// it to, and only where that item is certain. Each statement once went
// qualified with another item: the first table of any inner level the
// catalog was sure of, past a more inner item with the name (a
// subquery over a table, a function's column, a temporary table), the
// first of two tables of one level (PostgreSQL's "ambiguous", or a JOIN's
// merged column, which is neither table's), or a plan kept on the
// statement after a more inner table gained the column. Each answered
// other than PostgreSQL; each is now refused (0A000), or answered as
// PostgreSQL answers it.
func TestRedTeam37InnerBinding(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil) // the default: limits.catalog_binds_names on
	me := func(sql string) rt36Step { return rt36Step{sql: sql} }
	y := me("CREATE TABLE {x}_y (n int, tag text); INSERT INTO {x}_y VALUES (2, 't1')")
	t1 := me("INSERT INTO {x} VALUES (2, 't1')")
	nested := "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE EXISTS (SELECT 1 FROM %s WHERE tag = 't1'))"
	in := func(item string) string { return fmtItem(nested, item) }
	for _, c := range []struct {
		what  string
		steps []rt36Step
	}{
		{"FULL JOIN USING: the merged column", []rt36Step{y, me("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} FULL JOIN {x}_y USING (tag) WHERE tag = 't1')")}},
		{"RIGHT JOIN USING: the right table's column", []rt36Step{y, me("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} RIGHT JOIN {x}_y USING (tag) WHERE tag = 't1')")}},
		{"NATURAL FULL JOIN", []rt36Step{y, me("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} NATURAL FULL JOIN {x}_y WHERE tag = 't1')")}},
		{"two tables of one level: ambiguous", []rt36Step{y, me("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x}, {x}_y WHERE tag = 't1')")}},
		{"a subquery over the table, the table further out", []rt36Step{t1, me(in("(SELECT * FROM {x} WHERE n = 1) v"))}},
		{"a function's column named by its alias", []rt36Step{me(in("unnest(ARRAY['t1']) AS tag"))}},
		{"XMLTABLE's column", []rt36Step{me(in("XMLTABLE('/a' PASSING '<a>t1</a>' COLUMNS tag text PATH '.')"))}},
		{"a temporary table", []rt36Step{me("CREATE TEMP TABLE {x}_t (n int, tag text); INSERT INTO {x}_t VALUES (1, 't1')"), me(in("{x}_t"))}},
		{"USING alias named like the outer table's", []rt36Step{t1, y, me("SELECT count(*) FROM {p} p WHERE EXISTS (SELECT 1 FROM {x} a JOIN {x}_y b USING (tag) AS p WHERE p.tag = 't1')")}},
		{"USING alias named like the outer table", []rt36Step{t1, y, me("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} a JOIN {x}_y b USING (tag) AS {p} WHERE {p}.tag = 't1')")}},
		{"an alias that is a reserved word", []rt36Step{t1, me("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} AS \"user\" WHERE tag = 't1')")}},
		{"an alias that is a type or function name's word", []rt36Step{t1, me("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} AS \"left\" WHERE tag = 't1')")}},
		{"kept plan, the inner table gains the column", []rt36Step{me("CREATE TABLE {x}_z (n int)"), me(in("{x}_z")),
			me("ALTER TABLE {x}_z ADD COLUMN tag text"), me("INSERT INTO {x}_z VALUES (1, 't1')"), me(in("{x}_z"))}},
	} {
		f.rt36Seq(t, c.what, c.steps)
	}
}

// fmtItem puts item in q's %s, leaving q's braces alone.
func fmtItem(q, item string) string { return strings.Replace(q, "%s", item, 1) }

// TestRedTeam37InnerGainsName: the stale catalog the qualifier does not
// answer: a more inner table gained the name unseen (DDL sent straight to
// the database; a function made directly on the database, called earlier
// in the same Query or in a Query before, makes a temporary table of that
// name with the column). SELECT count(*) FROM people WHERE EXISTS (SELECT
// 1 FROM x WHERE EXISTS (SELECT 1 FROM z WHERE tag = 't1')) is sent with
// x.tag, and with a probe in z's WHERE that z lacks tag
// (sqlrewrite/scope_probe.go): PostgreSQL fails it where z has the name,
// and phiguard refuses. Before the probe (a HOLE) it answered 0 where
// PostgreSQL answers 60.
func TestRedTeam37InnerGainsName(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	me := func(sql string) rt36Step { return rt36Step{sql: sql} }
	su := func(sql string) rt36Step { return rt36Step{su: true, sql: sql} }
	nested := "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE EXISTS (SELECT 1 FROM %s WHERE tag = 't1'))"
	mk := su("CREATE FUNCTION {s}.mk() RETURNS int LANGUAGE plpgsql AS $$BEGIN CREATE TEMP TABLE {x}_t (n int, tag text); INSERT INTO {x}_t VALUES (1, 't1'); RETURN 1; END$$; GRANT ALL ON SCHEMA {s} TO PUBLIC")
	// (A temporary table the catalog never heard of, made by such a
	// function in a Query before, held: answered 60 as PostgreSQL does.)
	for _, c := range []struct {
		what  string
		steps []rt36Step
	}{
		{"column added directly on the database", []rt36Step{me("CREATE TABLE {x}_z (n int); INSERT INTO {x}_z VALUES (1)"), me(fmtItem(nested, "{x}_z")),
			su("ALTER TABLE {x}_z ADD COLUMN tag text DEFAULT 't1'"), me(fmtItem(nested, "{x}_z"))}},
		{"temp table made by a function earlier in the Query", []rt36Step{me(rt36Sel), mk, me("SELECT {s}.mk(); " + fmtItem(nested, "{x}_t"))}},
		{"temp table made by a function earlier in the Query, over a table known", []rt36Step{me("CREATE TABLE {x}_t (n int)"), me(rt36Sel), mk, me("SELECT {s}.mk(); " + fmtItem(nested, "{x}_t"))}},
		{"temp table made by a function in a Query before, over a table known", []rt36Step{me("CREATE TABLE {x}_t (n int)"), me(rt36Sel), mk, me("SELECT {s}.mk()"), me(fmtItem(nested, "{x}_t"))}},
		// Prepared: the database analyses the statement again at the
		// Bind after the DDL, where the probe fails (refused); the
		// next Bind prepares it again on the catalog read again.
		{"prepared, column added directly, bound", []rt36Step{me("CREATE TABLE {x}_z (n int); INSERT INTO {x}_z VALUES (1)"), {prep: true, sql: fmtItem(nested, "{x}_z")},
			su("ALTER TABLE {x}_z ADD COLUMN tag text DEFAULT 't1'"), {exec: true}}},
		{"prepared, column added directly, bound twice", []rt36Step{me("CREATE TABLE {x}_z (n int); INSERT INTO {x}_z VALUES (1)"), {prep: true, sql: fmtItem(nested, "{x}_z")},
			su("ALTER TABLE {x}_z ADD COLUMN tag text DEFAULT 't1'"), {exec: true}, {exec: true}}},
		// Run again after the refusal: the catalog read again binds
		// the name to the inner table, as PostgreSQL does.
		{"column added directly, run twice", []rt36Step{me("CREATE TABLE {x}_z (n int); INSERT INTO {x}_z VALUES (1)"), me(fmtItem(nested, "{x}_z")),
			su("ALTER TABLE {x}_z ADD COLUMN tag text DEFAULT 't1'"), me(fmtItem(nested, "{x}_z")), me(fmtItem(nested, "{x}_z"))}},
	} {
		f.rt36Seq(t, c.what, c.steps)
	}
}
