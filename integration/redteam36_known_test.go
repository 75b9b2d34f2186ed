package integration

import (
	"fmt"
	"strings"
	"testing"
)

// Red team 36 (known36): the plan made knowing the catalog
// (guard/catalog_unshadowed.go planOf, sqlrewrite PlanKnowing). A wrong
// sure-has sends a constant compared with an encrypted column in clear:
// PHI in the statement text, and 0 rows where PostgreSQL answers some.

// rt36LabelTable makes a plain table (n int, label text) holding 't1':
// no column tag.
func rt36LabelTable(t *testing.T) string {
	t.Helper()
	name := uniqueName("rt36_label")
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(`CREATE TABLE %[1]s (n int, label text);
		INSERT INTO %[1]s VALUES (1, 't1'), (2, 't2');
		GRANT SELECT ON %[1]s TO %[2]s`, name, appUser)); err != nil {
		t.Fatal(err)
	}
	return name
}

// rt36Tables is the sort fixture with limits.catalog_binds_names on,
// rt35's plain table (with tag) and rt36's label table, and q, which
// names them in a statement's {plain} and {label}.
func rt36Tables(t *testing.T) (f *sortFixture, q func(string) string) {
	f = newSortFixture(t, 60, bindNamesByCatalog)
	plain, label := rt35PlainTable(t), rt36LabelTable(t)
	return f, strings.NewReplacer("{plain}", plain, "{label}", label).Replace
}

// TestRedTeam36AliasColumnList: a table's alias column list renames its
// first columns, so a table the catalog lists with the name tag may not
// have it under its alias, and one without it may.
func TestRedTeam36AliasColumnList(t *testing.T) {
	t.Parallel()
	f, q := rt36Tables(t)
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} v(x, y) WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} AS v(x, y, z) WHERE tag = 't2')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} v(x) WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} v(x, y) TABLESAMPLE SYSTEM (100) WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM public.{plain} v(x, y) JOIN {label} l ON l.n = v.x WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE id IN (SELECT x FROM {plain} v(x, y) WHERE tag = $1)"), args: []any{"t1"}},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {label} v(n, tag) WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {label} AS v(a, tag) WHERE tag = 't2')")},
	})
}

// TestRedTeam36JoinOnScope: a JOIN's ON condition sees the join's own
// items only, not the FROM items before it: a name there that they lack
// binds to an enclosing level's column.
func TestRedTeam36JoinOnScope(t *testing.T) {
	t.Parallel()
	f, q := rt36Tables(t)
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain}, {label} a JOIN {label} b ON tag = 't1' AND a.n = b.n)")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} c JOIN ({label} a JOIN {label} b ON tag = 't1' AND a.n = b.n) ON true)")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} c CROSS JOIN {label} a JOIN {label} b ON tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {label} a JOIN {label} b ON tag = 't1', {plain})")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain}, LATERAL (SELECT 1 FROM {label} a JOIN {label} b ON tag = 't1') l)")},
	})
}

// TestRedTeam36WithNames: a WITH query named like the plain table that
// has the column: where PostgreSQL reads the WITH query (no column tag),
// tag is the outer encrypted column; where the table, the table's.
func TestRedTeam36WithNames(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, bindNamesByCatalog)
	plain := rt35PlainTable(t)
	q := func(s string) string { return strings.ReplaceAll(s, "{plain}", plain) }
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: q("WITH {plain} AS (SELECT 1 AS n) SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (WITH {plain} AS (SELECT 1 AS n) SELECT 1 FROM {plain} WHERE tag = 't1')")},
		{sql: q("WITH RECURSIVE a AS (SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} WHERE tag = 't1')), {plain} AS (SELECT 1 AS n) SELECT * FROM a")},
		{sql: q("WITH a AS (SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} WHERE tag = 't1')), {plain} AS (SELECT 1 AS n) SELECT * FROM a")},
		{sql: q("WITH a AS (WITH {plain} AS (SELECT 1 AS n) SELECT 1) SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (WITH w AS (SELECT 1 FROM {plain} WHERE tag = 't1') SELECT 1 FROM w)")},
		{sql: q("WITH {plain} AS MATERIALIZED (SELECT 1 AS n) SELECT id FROM %[1]s p WHERE id IN (SELECT n FROM {plain} WHERE tag = 't1') OR tag = 't2'")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM ONLY {plain} WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} AS tag WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} a JOIN {plain} b USING (n) WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} a NATURAL JOIN {plain} b WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM ({plain} a JOIN {plain} b ON a.n = b.n) j WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} WHERE EXISTS (SELECT 1 FROM %[2]s WHERE tag = 't1'))")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM %[2]s a WHERE EXISTS (SELECT 1 FROM {plain} WHERE tag = 't1' AND a.person = p.id))")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} TABLESAMPLE BERNOULLI (100) WHERE tag = 't1')")},
		{sql: q("UPDATE %[1]s SET grp = grp WHERE EXISTS (SELECT 1 FROM {plain} WHERE tag = 't1') RETURNING id")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} x(a, b) WHERE x.tag = 't1')")},
	})
}
