package sqlrewrite

import (
	"strings"
	"testing"
)

// TestTermConjuncts: on columns whose search terms are ready, =, ranges
// and BETWEEN get a term (equality for = on a column with an equality
// term, order otherwise), and RewriteSortTerms writes the term conjunct
// with the given constants where the conjunct's true was; <>, BETWEEN
// SYMMETRIC, IS NOT DISTINCT FROM, LIKE, lower(), a column still
// building and a filter without constants this time get none.
func TestTermConjuncts(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
      born: {mode: randomized, key: k, type: date, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
      note: {mode: randomized, key: k, type: text, search: [equality, order], search_key_version: 1}
      tag:  {mode: deterministic, key: d, type: text, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
`)
	x := TermArg{Value: []byte{0xab, 0x01}}
	y := TermArg{Param: 7}
	cases := []struct {
		sql   string
		terms [][]TermArg
		plan  string // the filters' terms, in order
		sent  string
	}{
		{"SELECT id FROM people WHERE name = 'a' AND id > 1", [][]TermArg{{x}}, "equality term",
			`WHERE phiguard.term_eq_v1(name) OPERATOR(pg_catalog.=) E'\\xab01'::pg_catalog.bytea AND id > 1`},
		{"SELECT id FROM people p WHERE p.born >= $1 AND 'x' < p.tag", [][]TermArg{{y}, {x}}, "order term, order term",
			`WHERE phiguard.term_ord_v1(p.born) OPERATOR(pg_catalog.>=) $7::pg_catalog.bytea AND phiguard.term_ord_v1(p.tag) OPERATOR(pg_catalog.>=) E'\\xab01'::pg_catalog.bytea`},
		{"SELECT id FROM people WHERE (born BETWEEN $1 AND '2000-01-01') AND born < $2", [][]TermArg{{y, {Null: true}}, {y}}, "order term, order term",
			`WHERE (phiguard.term_ord_v1(born) OPERATOR(pg_catalog.>=) $7::pg_catalog.bytea AND phiguard.term_ord_v1(born) OPERATOR(pg_catalog.<=) NULL::pg_catalog.bytea) AND phiguard.term_ord_v1(born) OPERATOR(pg_catalog.<=) $7::pg_catalog.bytea`},
		{"SELECT id FROM people WHERE born BETWEEN '1990-01-01' AND $1", [][]TermArg{{x, y}}, "order term",
			`WHERE (phiguard.term_ord_v1(born) OPERATOR(pg_catalog.>=) E'\\xab01'::pg_catalog.bytea AND phiguard.term_ord_v1(born) OPERATOR(pg_catalog.<=) $7::pg_catalog.bytea)`},
		{"SELECT id FROM people WHERE id > 0 AND born BETWEEN '1990-01-01' AND $1 AND id < 9", [][]TermArg{{x, y}}, "order term",
			`WHERE id > 0 AND (phiguard.term_ord_v1(born) OPERATOR(pg_catalog.>=) E'\\xab01'::pg_catalog.bytea AND phiguard.term_ord_v1(born) OPERATOR(pg_catalog.<=) $7::pg_catalog.bytea) AND id < 9`},
		{"SELECT id FROM people WHERE born = $1 AND name = 'b'", [][]TermArg{nil, {x}}, "order term, equality term",
			`WHERE true AND phiguard.term_eq_v1(name)`},
		{"SELECT p.id FROM people p WHERE p.id IN (SELECT q.id FROM people q WHERE q.born < '2000-01-01') AND p.born = $1", [][]TermArg{nil, {y}}, ", order term",
			`AND phiguard.term_ord_v1(p.born) OPERATOR(pg_catalog.=) $7::pg_catalog.bytea`},
		{"SELECT id FROM people WHERE name <> 'a' AND born BETWEEN SYMMETRIC $1 AND $2 AND name IS NOT DISTINCT FROM 'c' AND name LIKE 'a%' AND lower(name) = 'a' AND note = 'n'",
			make([][]TermArg, 6), ", , , , , ", "WHERE true AND true AND true AND true AND true AND true"},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil {
			t.Fatalf("%s: no plan (%v)", c.sql, plan.Refusal)
		}
		var terms []string
		for _, f := range plan.Sort.Filters {
			terms = append(terms, f.Term.String())
		}
		if got := strings.Join(terms, ", "); got != c.plan {
			t.Errorf("%s: terms %q, want %q", c.sql, got, c.plan)
		}
		out, err := RewriteSortTerms([]byte(c.sql), plan.Sort, c.terms, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		out = ungated(plan.Sort, out) // the gate of its probes first in the WHERE (planner_shadow.go)
		if !strings.Contains(string(out), c.sent) {
			t.Errorf("%s: sent\n%s\nwant it to hold\n%s", c.sql, out, c.sent)
		}
		for _, lit := range []string{"'a'", "'b'", "'2000-01-01'", "'x'"} {
			if strings.Contains(string(out), lit) {
				t.Errorf("%s: the constant %s was sent: %s", c.sql, lit, out)
			}
		}
	}
}

// TestTermsRewriteMemo: a rewrite with terms comes from the plan's memo
// only for the same text, constants and multiplier; another constant,
// another token or another multiplier gives its own text.
func TestTermsRewriteMemo(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
`)
	const sql = "SELECT id FROM people WHERE name >= 'a' ORDER BY name LIMIT 5"
	sp := PlanFor(Analyze(sql), pol).Sort
	if sp == nil || sp.Rounds == nil {
		t.Fatal("no rounds")
	}
	rewrite := func(v byte, mult string) string {
		out, err := RewriteSortRounds([]byte(sql), sp, [][]TermArg{{{Value: []byte{v}}}}, mult, nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	first := rewrite(1, "1")
	if again := rewrite(1, "1"); again != first {
		t.Fatalf("the same inputs rewrote otherwise:\n%s\n%s", first, again)
	}
	for _, other := range []string{rewrite(2, "1"), rewrite(1, "8")} {
		if other == first {
			t.Fatalf("another constant or multiplier came from the memo: %s", other)
		}
	}
	if !strings.Contains(rewrite(2, "1"), `E'\\x02'`) || !strings.Contains(rewrite(1, "8"), "FETCH FIRST CAST(184 AS pg_catalog.int8)") {
		t.Fatal("a rewrite does not hold its own constant and multiplier")
	}
}

// BenchmarkTermsRewriteMemo: a Parse of a statement in rounds whose text
// and term constants the plan's memo holds (an unnamed statement parsed
// at each execution with the same literals, bench-search's first and
// third queries): the memo key and the text's copy.
func BenchmarkTermsRewriteMemo(b *testing.B) {
	pol := validPolicy(&testing.T{}, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
`)
	const sql = "SELECT id FROM people WHERE name >= 'a' ORDER BY name LIMIT 5"
	sp := PlanFor(Analyze(sql), pol).Sort
	if sp == nil || sp.Rounds == nil {
		b.Fatal("no rounds")
	}
	terms := [][]TermArg{{{Value: []byte("0123456789abcdef0123456789abcdef")}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RewriteSortRounds([]byte(sql), sp, terms, "$2", nil); err != nil {
			b.Fatal(err)
		}
	}
}
