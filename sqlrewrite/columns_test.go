package sqlrewrite

import (
	"slices"
	"testing"
)

// TestStatementColumns: the column names a statement reads and those it
// defines itself (guard/catalog_computed.go reads the catalog before a
// statement reading a name no relation had).
func TestStatementColumns(t *testing.T) {
	for _, c := range []struct {
		sql             string
		undefined, refs []string
		natural         bool
	}{
		{"SELECT id FROM t WHERE n = 6", []string{"id", "n"}, []string{"id", "n"}, false},
		{"SELECT t.id, t.* FROM s.t t ORDER BY 1", []string{"id"}, []string{"id"}, false},
		{"SELECT length(x) AS l FROM t ORDER BY l", []string{"x"}, []string{"x", "l"}, false},
		{"SELECT k FROM (SELECT 1) AS a(k) JOIN t USING (n)", []string{"n"}, []string{"k", "n"}, false},
		{"WITH w(k) AS (SELECT 1) SELECT k FROM w NATURAL JOIN t", nil, []string{"k"}, true},
		{"SELECT generate_series FROM generate_series(1, 2)", nil, []string{"generate_series"}, false},
		{"SELECT t FROM t", []string{"t"}, []string{"t"}, false},
		{"DELETE FROM t WHERE g = 65 RETURNING *", []string{"g"}, []string{"g"}, false},
	} {
		st := Analyze(c.sql).Statements[0]
		if !slices.Equal(st.Undefined(), c.undefined) || !slices.Equal(st.Columns, c.refs) || st.Natural != c.natural {
			t.Errorf("%s: undefined %q, columns %q, natural %v; want %q, %q, %v", c.sql, st.Undefined(), st.Columns, st.Natural,
				c.undefined, c.refs, c.natural)
		}
	}
}
