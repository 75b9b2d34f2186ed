package sqlrewrite

import (
	"strings"
	"testing"
)

// TestRekeyingTermConjuncts: on a `rekeying` column only = gets a term
// (the equality term), written `= ANY` of the term under every version,
// as an ARRAY of literals or a bytea[] parameter; ranges, BETWEEN and =
// on a column with an order term only, LIKE and ILIKE get none
// (proxy-side), while a ready column beside it keeps its order term.
func TestRekeyingTermConjuncts(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted, search: [equality, order, match], search_key_version: 2, search_state: rekeying}
      born: {mode: randomized, key: k, type: date, state: encrypted, search: [order], search_key_version: 2, search_state: rekeying}
      seen: {mode: randomized, key: k, type: date, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
`)
	lit := VersionsArg([][]byte{{0xab}, {0xcd, 0x01}})
	par := ArrayParamArg(5)
	one := TermArg{Value: []byte{0xee}}
	cases := []struct {
		sql   string
		terms [][]TermArg
		plan  string
		sent  string
	}{
		{"SELECT id FROM people WHERE name = 'a' AND id > 1", [][]TermArg{{lit}}, "equality term",
			`WHERE phiguard.term_eq_v1(name) OPERATOR(pg_catalog.=) ANY (ARRAY[E'\\xab'::pg_catalog.bytea, E'\\xcd01'::pg_catalog.bytea]) AND id > 1`},
		{"SELECT id FROM people WHERE id > 1 AND name = $1", [][]TermArg{{par}}, "equality term",
			`AND phiguard.term_eq_v1(name) OPERATOR(pg_catalog.=) ANY ($5::pg_catalog.bytea[])`},
		{"SELECT id FROM people WHERE name = $1", [][]TermArg{{{Null: true}}}, "equality term",
			`WHERE phiguard.term_eq_v1(name) OPERATOR(pg_catalog.=) NULL::pg_catalog.bytea`},
		// A literal pattern sends a pair of terms per version, ORed; a
		// parameter pattern (one version's variants) none.
		{"SELECT id FROM people WHERE name LIKE 'Smi%' AND name ILIKE $1 AND id > 0", [][]TermArg{nil, nil}, "match term, ",
			`WHERE true AND true AND id > 0`},
		{"SELECT id FROM people WHERE id > 0 AND name LIKE 'Smi%th' AND name ILIKE $1",
			[][]TermArg{{{Value: []byte("X2")}, {Tokens: []string{"t2"}}, {Value: []byte("X1")}, {Tokens: []string{"t1"}}}, nil}, "match term, ",
			`WHERE id > 0 AND ((phiguard.term_pre_v1(name) OPERATOR(pg_catalog.=) E'\\x5832'::pg_catalog.bytea AND phiguard.term_match_v1(name) OPERATOR(pg_catalog.@>) '{t2}'::pg_catalog.bytea[]) OR ` +
				`(phiguard.term_pre_v1(name) OPERATOR(pg_catalog.=) E'\\x5831'::pg_catalog.bytea AND phiguard.term_match_v1(name) OPERATOR(pg_catalog.@>) '{t1}'::pg_catalog.bytea[])) AND true`},
		{"SELECT id FROM people WHERE name > 'a' AND born = $1 AND born BETWEEN $2 AND $3 AND seen >= $4", [][]TermArg{nil, nil, nil, {one}}, ", , , order term",
			`WHERE true AND true AND true AND phiguard.term_ord_v1(seen) OPERATOR(pg_catalog.>=) E'\\xee'::pg_catalog.bytea`},
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
	}
}
