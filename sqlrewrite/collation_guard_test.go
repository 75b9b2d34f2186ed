package sqlrewrite

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// TestGuardTermCollations: the check wraps the first value of a checked
// column (an INSERT's first row that is not DEFAULT, an UPDATE's SET
// item up to its end) or leads a COPY FROM's WHERE, and the text still
// parses as one statement of the same kind; shapes with no such value
// come back unchanged.
func TestGuardTermCollations(t *testing.T) {
	tab := &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "t"}}
	first := &policy.ProtectedColumn{Name: "first", Table: tab}
	last := &policy.ProtectedColumn{Name: "last", Table: tab}
	checks := []CollationCheck{{Column: first, Collation: 12345}, {Column: last, Collation: 100}}
	for _, c := range []struct {
		sql, wrapped string // wrapped: the value the guard must hold, "" for unchanged
	}{
		{"INSERT INTO t (id, first) VALUES (1, $2)", "THEN ($2) ELSE"},
		{"INSERT INTO t (id, first) VALUES (1, '~phs~1~~x~~~AQ'), (2, $3) RETURNING id", "THEN ('~phs~1~~x~~~AQ') ELSE"},
		{"INSERT INTO t (id, first) VALUES (1, DEFAULT), (2, $3) -- c", "THEN ($3) ELSE"},
		{"INSERT INTO t (id, last, first) VALUES (1, $2, $3) ON CONFLICT (id) DO UPDATE SET first = EXCLUDED.first", "THEN ($2) ELSE"},
		{"UPDATE t SET id = 1, first = $2 || 'x' WHERE id = 1 RETURNING first", "THEN ($2 || 'x') ELSE"},
		{"UPDATE t SET first = coalesce($1, ','), id = 2", "THEN (coalesce($1, ',')) ELSE"},
		{"UPDATE t SET first = $1 FROM u WHERE u.id = t.id", "THEN ($1) ELSE"},
		{"COPY t (id, first) FROM STDIN WHERE id > 0", "THEN true ELSE"},
		{"UPDATE t SET first = DEFAULT", ""},
		{"UPDATE t SET (id, first) = (1, $2)", ""},
		{"INSERT INTO t (id, first) SELECT 1, $2", ""},
		{"INSERT INTO t (id, first) VALUES (1, DEFAULT)", ""},
		{"SELECT 1; INSERT INTO t (id, first) VALUES (1, $2)", ""},
	} {
		got := GuardTermCollations(c.sql, checks)
		if c.wrapped == "" {
			if got != c.sql {
				t.Errorf("%s: changed to %s", c.sql, got)
			}
			continue
		}
		if !strings.Contains(got, c.wrapped) || strings.Count(got, collationGuardMarker) != 2 ||
			!strings.Contains(got, collationGuardMarker+"public.t.first") || !strings.Contains(got, collationGuardMarker+"public.t.last") {
			t.Errorf("%s: guarded as\n%s", c.sql, got)
		}
		before, err1 := pg_query.Parse(c.sql)
		after, err2 := pg_query.Parse(got)
		if err1 != nil || err2 != nil || len(after.GetStmts()) != 1 {
			t.Errorf("%s: %v %v", got, err1, err2)
			continue
		}
		k := func(r *pg_query.ParseResult) string {
			s := r.GetStmts()[0].GetStmt().String()
			return s[:strings.IndexByte(s, ':')]
		}
		if k(before) != k(after) {
			t.Errorf("%s: became a %s", c.sql, k(after))
		}
	}
	r, ok := CollationChangedRefusal(`unrecognized configuration parameter "` + collationGuardMarker + `public."a""b".first"`)
	if !ok || r.Table != `public."a""b".first` || r.Code != "40001" || !strings.Contains(r.PgError().Message, "nothing was written") {
		t.Errorf("refusal %+v %v", r, ok)
	}
	if _, ok := CollationChangedRefusal("unrecognized configuration parameter \"x\""); ok {
		t.Error("another error taken for the guard's")
	}
}

// BenchmarkGuardTermCollations is the proxy's cost of adding the check
// to a simple Query's INSERT (a prepared statement pays it once, at its
// Parse).
func BenchmarkGuardTermCollations(b *testing.B) {
	tab := &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "t"}}
	checks := []CollationCheck{{Column: &policy.ProtectedColumn{Name: "first", Table: tab}, Collation: 12345}}
	sql := "INSERT INTO t (id, last, first, born) VALUES (1, '~phs~1~~x~~~AQ', '~phs~1~~q8Z1AAAAAAAAAAAAAAAAAAAAAAAAAAA=~Bc9-aT~Ab3x_Q.Bc9-aT~AQEMAAAAAAAAAAAAAAAAAAAAAAAAAA', '1970-01-01')"
	for b.Loop() {
		GuardTermCollations(sql, checks)
	}
}
