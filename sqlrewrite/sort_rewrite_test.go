package sqlrewrite

import (
	"strings"
	"testing"
)

// TestRewriteSortTexts: texts whose tokens could be taken for clause
// keywords (labels after AS, fields after a dot, keywords inside
// parentheses, comments, a trailing semicolon) are cut at the right
// places: the rewrite keeps every other byte, parses, and holds no
// ORDER BY or LIMIT of its own.
func TestRewriteSortTexts(t *testing.T) {
	pol := testPolicy(t)
	cases := []struct{ sql, want string }{
		{`SELECT id AS "limit", first AS order_ FROM patients ORDER BY first LIMIT 3`,
			`SELECT id AS "limit", first AS order_, `},
		{"SELECT p.id, (SELECT count(*) FROM encounters e WHERE e.patient = p.id ORDER BY 1 LIMIT 1) FROM patients p /* ORDER BY */ ORDER BY p.first -- LIMIT 9\n",
			"SELECT p.id, (SELECT count(*) FROM encounters e WHERE e.patient = p.id ORDER BY 1 LIMIT 1), p.first, "},
		{"WITH x AS (SELECT id, first FROM patients ORDER BY id LIMIT 5) SELECT x.first FROM x ORDER BY x.first DESC;",
			"WITH x AS (SELECT id, first FROM patients ORDER BY id LIMIT 5) SELECT x.first, "},
		{"SELECT id, array_agg(id ORDER BY id) OVER () FROM patients ORDER BY first",
			""}, // a window function: refused
		{"SELECT ALL id FROM patients WHERE id > 3 ORDER BY first NULLS FIRST OFFSET $1 LIMIT $2",
			"SELECT ALL id, first, "},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if c.want == "" {
			if plan.Refusal == nil {
				t.Errorf("%s: not refused", c.sql)
			}
			continue
		}
		if plan.Sort == nil {
			t.Fatalf("%s: no sort plan (%v)", c.sql, plan.Refusal)
		}
		out, err := RewriteSort([]byte(c.sql), plan.Sort)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if !strings.HasPrefix(string(out), c.want) {
			t.Errorf("%s:\n got %s\nwant %s…", c.sql, out, c.want)
		}
		if n := strings.Count(strings.ToUpper(string(out)), "ORDER BY"); n != strings.Count(strings.ToUpper(c.want), "ORDER BY")+countRanks(plan.Sort)+strings.Count(c.sql, "/* ORDER BY */") {
			t.Errorf("%s: %d ORDER BY left in %s", c.sql, n, out)
		}
	}
	// A text of another shape than the plan's is an error, not a guess.
	plan := PlanFor(Analyze("SELECT id FROM patients ORDER BY first"), pol)
	if _, err := RewriteSort([]byte("SELECT id, ssn FROM patients ORDER BY first, id"), plan.Sort); err == nil {
		t.Error("a text with another select list and ORDER BY was rewritten")
	}
}

func countRanks(sp *SortPlan) int {
	n := 0
	for _, h := range sp.hidden {
		if h.kind == hiddenRank {
			n++
		}
	}
	return n
}

// TestSortOrdinalNotShared: ORDER BY 2 and ORDER BY 3 differ only in a
// literal, but sort by different columns: their analyses (and the plans
// cached on them) must not be shared by shape.
func TestSortOrdinalNotShared(t *testing.T) {
	pol := testPolicy(t)
	z := NewAnalyzer(100, 1<<20)
	a2, _ := z.Analyze([]byte("SELECT id, first, ssn FROM patients ORDER BY 2"))
	a3, _ := z.Analyze([]byte("SELECT id, first, ssn FROM patients ORDER BY 3"))
	p2, p3 := a2.PlanUnder(pol), a3.PlanUnder(pol)
	if p2.Sort == nil || p3.Sort == nil {
		t.Fatalf("no sort plans: %v %v", p2.Refusal, p3.Refusal)
	}
	if p2.Sort.Keys[0].Column.Name != "first" || p3.Sort.Keys[0].Column.Name != "ssn" {
		t.Errorf("ORDER BY 2 sorts by %s, ORDER BY 3 by %s", p2.Sort.Keys[0].Column.Name, p3.Sort.Keys[0].Column.Name)
	}
}

// TestGroupOrdinalNotShared: GROUP BY 1 and GROUP BY 2 name different
// select-list entries: their analyses must not be shared by shape either.
func TestGroupOrdinalNotShared(t *testing.T) {
	pol := testPolicy(t)
	z := NewAnalyzer(100, 1<<20)
	a1, _ := z.Analyze([]byte("SELECT first, count(*) FROM patients GROUP BY 1"))
	a2, cached := z.Analyze([]byte("SELECT first, count(*) FROM patients GROUP BY 2"))
	if cached || a1 == a2 {
		t.Fatal("GROUP BY 2 got GROUP BY 1's analysis")
	}
	if p := a1.PlanUnder(pol); p.Refusal == nil && (p.Sort == nil || !p.Sort.Grouped) {
		t.Errorf("GROUP BY 1 of an encrypted column neither grouped by phiguard nor refused")
	}
}
