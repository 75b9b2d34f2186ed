package sqlrewrite

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// TestAccessHandsItsAnalysis: a rewrite that edited the client's text
// hands over the parse its check made as the text's analysis, and the
// encryption planner makes of it exactly what it makes of the text
// parsed again. Every golden case a role rewrites is tried.
func TestAccessHandsItsAnalysis(t *testing.T) {
	r := &goldenRunner{t: t, policies: map[string]*policy.Policy{}, objs: newGoldenObjects()}
	handed := 0
	for _, path := range goldenFiles(t) {
		for _, c := range parseGolden(t, path).cases {
			if c.commentOnly() || c.role == "encrypt" || c.role == "none" {
				continue
			}
			pol := r.policy(c.policy)
			role, ok := pol.Role(c.role)
			if !ok {
				t.Fatalf("%s:%d: no role %s", c.file, c.line, c.role)
			}
			before := accessTextFallbacks.Load()
			acc := AccessFor(c.sql, Analyze(c.sql), pol, role, r.objs, c.breakGlass)
			if !acc.Changed || acc.Refusal != nil {
				if acc.Analysis() != nil {
					t.Errorf("%s:%d: an unchanged or refused text handed an analysis", c.file, c.line)
				}
				continue
			}
			got := acc.Analysis()
			if accessTextFallbacks.Load() != before {
				if got != nil {
					t.Errorf("%s:%d: a text written whole from the tree handed the check's analysis", c.file, c.line)
				}
				continue
			}
			if got == nil {
				t.Errorf("%s:%d: an edited text handed no analysis", c.file, c.line)
				continue
			}
			handed++
			sameAnalysis(t, fmt.Sprintf("%s:%d", c.file, c.line), acc.SQL, got, Analyze(acc.SQL), pol)
		}
	}
	if handed < 25 {
		t.Errorf("only %d golden rewrites handed their analysis; the test tries too little", handed)
	}
}

// sameAnalysis compares a handed analysis with the text's own, and what
// the planner makes of each.
func sameAnalysis(t *testing.T, where, sql string, got, want *Analysis, pol *policy.Policy) {
	t.Helper()
	if !reflect.DeepEqual(got.Statements, want.Statements) {
		t.Errorf("%s: statements differ:\n got %+v\nwant %+v", where, got.Statements, want.Statements)
	}
	g, w := PlanFor(got, pol), PlanFor(want, pol)
	gl := append(planLines(g), operatorLines(sql, g)...)
	wl := append(planLines(w), operatorLines(sql, w)...)
	if strings.Join(gl, "\n") != strings.Join(wl, "\n") {
		t.Errorf("%s: plans differ:\n got %s\nwant %s", where, strings.Join(gl, "\n"), strings.Join(wl, "\n"))
	}
}

// TestSameStatementsLeavesTreesAsParsed: the check compares without
// changing either tree, so the parse it hands over keeps the client's
// locations, and the walker's tree deparses as before.
func TestSameStatementsLeavesTreesAsParsed(t *testing.T) {
	const text = "SELECT a  FROM t WHERE (b = 1 AND c = 2) AND d = 3"
	tree, err := pg_query.Parse("SELECT a FROM t WHERE b = 1 AND (c = 2) AND d = 3")
	if err != nil {
		t.Fatal(err)
	}
	wantTree, _ := pg_query.Parse("SELECT a FROM t WHERE b = 1 AND (c = 2) AND d = 3")
	parsed, same := sameStatements(text, tree)
	if !same {
		t.Fatal("the same statement compared unequal")
	}
	fresh, _ := pg_query.Parse(text)
	if parsed.Stmts[0].String() != fresh.Stmts[0].String() {
		t.Errorf("the handed parse is not the text's own:\n got %s\nwant %s", parsed.Stmts[0], fresh.Stmts[0])
	}
	if tree.Stmts[0].String() != wantTree.Stmts[0].String() {
		t.Errorf("the walker's tree was changed:\n got %s\nwant %s", tree.Stmts[0], wantTree.Stmts[0])
	}
	// Locations are all the check ignores: a different constant, column,
	// operator or nesting of an OR under the AND is another statement.
	for _, other := range []string{
		"SELECT a FROM t WHERE b = 1 AND c = 2 AND d = 4",
		"SELECT a FROM t WHERE b = 1 AND c = 2 AND e = 3",
		"SELECT a FROM t WHERE b = 1 AND c = 2 AND d <> 3",
		"SELECT a FROM t WHERE b = 1 AND (c = 2 OR d = 3)",
		"SELECT a FROM t WHERE b = 1 AND c = 2 AND d = 3 AND true",
		"SELECT a FROM ONLY t WHERE b = 1 AND c = 2 AND d = 3",
		"SELECT a, a FROM t WHERE b = 1 AND c = 2 AND d = 3",
		"SELECT a FROM t WHERE b = 1 AND c = 2 AND d = '3'",
	} {
		if _, same := sameStatements(other, tree); same {
			t.Errorf("%q compared equal to the tree", other)
		}
	}
}

// TestAnalyzeWithTakesTheHandedAnalysis: the analyzer caches a handed
// analysis of the text as its own, and ignores one of another text.
func TestAnalyzeWithTakesTheHandedAnalysis(t *testing.T) {
	pol := loadAccessPolicy(t)
	role, _ := pol.Role("clinician")
	sql := "SELECT id, ssn FROM patients WHERE ssn = $1"
	acc := AccessFor(sql, Analyze(sql), pol, role, newFakeObjects(), false)
	handed := acc.Analysis()
	if handed == nil {
		t.Fatal("the rewrite handed no analysis")
	}
	z := NewAnalyzer(100, 1<<20)
	if a, cached := z.AnalyzeWith([]byte(acc.SQL), handed); a != handed || cached {
		t.Errorf("AnalyzeWith of the rewritten text: got %p (cached %v), want the handed %p, new", a, cached, handed)
	}
	if a, cached := z.Analyze([]byte(acc.SQL)); a != handed || !cached {
		t.Errorf("Analyze after it: got %p (cached %v), want the handed %p from the cache", a, cached, handed)
	}
	if a, _ := z.AnalyzeWith([]byte(sql), handed); a == handed || a.sql != sql {
		t.Error("an analysis of another text was taken")
	}
	// A cached rewrite hands none: its text is analysed through the
	// analyzer's cache, which the first one filled.
	cache := NewAccessCache(100, 1<<20)
	first := cache.For(sql, Analyze(sql), pol, role, newFakeObjects(), false)
	again := cache.For(sql, Analyze(sql), pol, role, newFakeObjects(), false)
	if first.Analysis() == nil || again.Analysis() != nil {
		t.Errorf("through the cache: first hands %v, again %v; want the first only", first.Analysis() != nil, again.Analysis() != nil)
	}
}

// TestAccessLeavesTheAnalysisTree: the rewrite changes a copy of the
// analysis's tree (ownTree), never the tree itself, which other
// sessions read for every text of its shape.
func TestAccessLeavesTheAnalysisTree(t *testing.T) {
	pol := loadAccessPolicy(t)
	role, _ := pol.Role("clinician")
	sql := "SELECT id, ssn FROM patients WHERE ssn = $1"
	a := Analyze(sql)
	before := a.tree.Load().String()
	acc := AccessFor(sql, a, pol, role, newFakeObjects(), false)
	if !acc.Changed {
		t.Fatal("not rewritten")
	}
	if got := a.tree.Load(); got != nil && got.String() != before {
		t.Errorf("the analysis's tree was changed:\n got %s\nwant %s", got, before)
	}
}
