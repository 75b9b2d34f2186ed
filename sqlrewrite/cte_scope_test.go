package sqlrewrite

import (
	"slices"
	"testing"
)

// TestBoundCTEs: a WITH query's name counts as bound only where the
// statement names it inside the WITH's scope; named outside it (or as a
// write's target), it is a relation's name.
func TestBoundCTEs(t *testing.T) {
	for sql, want := range map[string][]string{
		"WITH w AS (SELECT 1) SELECT * FROM w":                                        {"w"},
		"WITH w AS (SELECT 1) SELECT * FROM (SELECT * FROM w) a":                      {"w"},
		"SELECT * FROM (WITH w AS (SELECT 1) SELECT * FROM w) a, w":                   nil,
		"SELECT * FROM w WHERE EXISTS (WITH w AS (SELECT 1) SELECT FROM w)":           nil,
		"WITH a AS (SELECT * FROM w), w AS (SELECT 1) SELECT * FROM a":                {"a"},
		"WITH RECURSIVE a AS (SELECT * FROM w), w AS (SELECT 1) SELECT * FROM a":      {"a", "w"},
		"WITH RECURSIVE w(n) AS (SELECT 1 UNION ALL SELECT n FROM w) SELECT * FROM w": {"w"},
		"WITH w AS (SELECT 1 AS n) INSERT INTO w SELECT n FROM w":                     nil,
		"WITH w AS (SELECT 1 AS n) UPDATE t SET x = 1 FROM w":                         {"w"},
		"WITH w AS (SELECT 1) SELECT * FROM public.w, w":                              {"w"},
		"WITH w AS (SELECT 1) SELECT 1 UNION SELECT 1 FROM w":                         {"w"},
	} {
		if got := Analyze(sql).Statements[0].CTEs; !slices.Equal(got, want) {
			t.Errorf("%s: CTEs %q, want %q", sql, got, want)
		}
	}
}
