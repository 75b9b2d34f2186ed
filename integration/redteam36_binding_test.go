package integration

import (
	"fmt"
	"strings"
	"testing"
)

// Red team 36: names that the one column-name binder
// (sqlrewrite/bind_columns.go) binds differently from PostgreSQL 15. Each
// statement runs through phiguard on the encrypted twin and straight on
// the plaintext one: the answers must be the same, or phiguard must
// refuse (0A000).

// rt36PlainTable makes a plaintext table, the same on both sides, whose
// column label is named like no encrypted column, and returns its name.
func rt36PlainTable(t *testing.T) string {
	t.Helper()
	name := uniqueName("rt36_plain")
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(`CREATE TABLE %[1]s (n int, label text);
		INSERT INTO %[1]s VALUES (1, 'l1'), (2, 'l2');
		GRANT SELECT ON %[1]s TO %[2]s`, name, appUser)); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestRedTeam36ScalarSubqueryStarName: a scalar subquery is named after
// its single output column, which for SELECT * (or q.*, or (x).*) is the
// column the * expands to: (SELECT * FROM (VALUES ('t1')) z(tag)) is
// named tag. The planner named it ?column? (or q), so a FROM subquery
// whose output it is seemed to have no column tag: tag in its WHERE
// went to the outer encrypted tag, 't1' was encrypted, and the database
// compared the plain 't1' with a ciphertext: count 0 where PostgreSQL
// answers every row. As an output name, ORDER BY tag sorted by the
// encrypted input column where PostgreSQL sorts by the entry.
func TestRedTeam36ScalarSubqueryStarName(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT * FROM (VALUES ('t1')) z(tag))) v WHERE tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT z.* FROM (VALUES ('t1')) z(tag))) v WHERE tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT (z).* FROM (VALUES ('t1')) z(tag))) v WHERE tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT * FROM (VALUES ('t1')) z(tag))::text) v WHERE tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT (SELECT * FROM (VALUES ('t1')) z(tag)))) v WHERE tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT CASE WHEN true THEN 't1' ELSE (SELECT * FROM (VALUES ('t1')) z(tag)) END) v WHERE tag = 't1')"},
	})
	for _, c := range []rt13Case{
		{sql: "SELECT (SELECT * FROM (SELECT p.id) z(name)) FROM %[1]s p ORDER BY name LIMIT 5"},
		{sql: "SELECT (SELECT z.* FROM (SELECT p.id) z(name)) FROM %[1]s p ORDER BY name DESC LIMIT 5"},
	} {
		f.rt35Ordered(t, c)
	}
}

// TestRedTeam36RenamedOuterEncrypted: an unqualified name the planner
// takes for an outer level's encrypted column under another name (a
// subquery's output ssn AS label) is left to the catalog, which must
// say that no inner table has a column of that name
// (Plan.Unshadowed); but the catalog lists only the relations with a
// column named like an encrypted column (tag, name, ...), not label,
// so an inner table with a plain label was not seen: 'l1' was encrypted
// and compared with the plain label, count 0 where PostgreSQL answers
// every row.
func TestRedTeam36RenamedOuterEncrypted(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	plain := rt36PlainTable(t)
	q := func(s string) string { return strings.ReplaceAll(s, "{plain}", plain) }
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: q("SELECT count(*) FROM (SELECT tag AS label FROM %[1]s) v WHERE EXISTS (SELECT 1 FROM {plain} WHERE label = 'l1')")},
		{sql: q("SELECT count(*) FROM (SELECT tag AS label FROM %[1]s) v WHERE EXISTS (SELECT 1 FROM {plain} WHERE label = $1)"), args: []any{"l1"}},
		{sql: q("WITH v AS (SELECT tag AS label FROM %[1]s) SELECT count(*) FROM v WHERE EXISTS (SELECT 1 FROM {plain} WHERE label = 'l1')")},
	})
}

// TestRedTeam36JoinOnSeesItsTables: a JOIN's ON condition sees the
// tables it joins and the enclosing levels, not the items before the
// JOIN at its level (PostgreSQL: "invalid reference to FROM-clause
// entry" for them qualified; unqualified, a name binds further out).
// The planner planned ON in the whole level, so tag there bound to the
// earlier people p's encrypted tag, and 't1' was encrypted where
// PostgreSQL compares the plain tag of o or of the subquery: count 0
// where PostgreSQL counts.
func TestRedTeam36JoinOnSeesItsTables(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT count(*) FROM (SELECT 't1'::text AS tag) o WHERE EXISTS (SELECT 1 FROM %[1]s p, %[2]s a JOIN (SELECT 1 AS k) x ON tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s p, (SELECT 't1'::text AS tag) o JOIN %[2]s a ON tag = 't1'"},
		{sql: "SELECT count(*) FROM %[1]s p, (SELECT 't1'::text AS tag) o JOIN %[2]s a ON tag = $1", args: []any{"t1"}},
		// the tables it joins it sees: p.tag, encrypted
		{sql: "SELECT count(*) FROM (SELECT 't1'::text AS tag) o WHERE EXISTS (SELECT 1 FROM %[1]s p JOIN %[2]s a ON tag = 't1')"},
	})
}

// TestRedTeam36OuterQualifiedStar: q.* in a FROM subquery (or LATERAL)
// may expand an enclosing level's q, and schema.q.* only a table, never
// a subquery called q. The planner gave such a subquery the encrypted
// columns of its own level's items only (none), so its tag was taken
// for a plain column and 't1' compared with it went in clear: count 0
// where PostgreSQL counts the rows tagged t1.
func TestRedTeam36OuterQualifiedStar(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT count(*) FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT p.* FROM %[2]s) v WHERE tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT p.* FROM %[2]s) v WHERE v.tag = $1)", args: []any{"t1"}},
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT public.%[1]s.* FROM (SELECT 'x'::text AS tag) %[1]s) v WHERE tag = 't1')"},
		{sql: "SELECT v.id FROM %[1]s p, LATERAL (SELECT p.*) v WHERE v.tag = 't1' ORDER BY 1"},
	})
}
