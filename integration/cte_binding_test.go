package integration

import "testing"

// TestCTEInFromSubquery: a WITH query named inside a FROM subquery (at
// any depth, LATERAL or not) is that WITH query, as PostgreSQL binds it
// (sqlrewrite/bind_relations.go). The encryption planner once let a FROM
// subquery see only the enclosing levels' WITH names, so it took c for a
// table of that name: the constant compared with c.tag, an encrypted
// column, reached the database in clear and matched no cell, where
// PostgreSQL answers the rows tagged t1.
func TestCTEInFromSubquery(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, nil)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"WITH c AS (SELECT id, tag FROM %[1]s) SELECT * FROM (SELECT id FROM c WHERE tag = 't1') s", nil},
		{"WITH c AS (SELECT id, tag FROM %[1]s) SELECT s.id FROM (SELECT * FROM c) s WHERE s.tag = 't1'", nil},
		{"WITH c AS (SELECT id, tag FROM %[1]s) SELECT b.id FROM (SELECT * FROM (SELECT id, tag FROM c) a WHERE a.tag = $1) b", []any{"t1"}},
		{"WITH c AS (SELECT id, tag FROM %[1]s) SELECT x.id FROM %[1]s x, LATERAL (SELECT 1 FROM c WHERE c.id = x.id AND c.tag = 't1') l", nil},
		{"WITH c AS (SELECT id, tag FROM %[1]s) SELECT id FROM %[1]s WHERE id IN (SELECT s.id FROM (SELECT id, tag FROM c) s WHERE s.tag = 't1')", nil},
		{"WITH c AS (SELECT id, tag FROM %[1]s), d AS (SELECT * FROM (SELECT id, tag FROM c) s) SELECT id FROM d WHERE tag = 't1'", nil},
	} {
		f.sameRows(t, q.sql, q.args...)
	}
}
