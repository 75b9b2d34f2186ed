package sqlrewrite

import (
	"strings"
	"testing"
)

// TestMatchTermConjuncts: LIKE and ILIKE (with ESCAPE, spelled ~~ and
// ~~*) on ready columns with `match` get a match term, and
// RewriteSortTerms writes the prefix key, the tokens or both in the
// conjunct's place (both first in the WHERE, where PostgreSQL flattens
// the AND); NOT LIKE, lower() around the column, a column without match
// get none; a conjunct with neither part, an empty or malformed token
// list is an error, never '{}'.
func TestMatchTermConjuncts(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted, search: [equality, order, match], search_key_version: 1, search_state: ready}
      note: {mode: randomized, key: k, type: text, state: encrypted, search: [match], search_key_version: 1, search_state: ready}
      city: {mode: randomized, key: k, type: text, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
      code: {mode: deterministic, key: d, type: text, state: encrypted, search: [match], search_key_version: 1, search_state: ready}
`)
	pre := TermArg{Value: []byte("AbC-_9")}
	toks := TermArg{Tokens: []string{"aaaaaa", "b-_b9Z"}}
	cases := []struct {
		sql   string
		terms [][]TermArg
		plan  string
		sent  string
	}{
		{"SELECT id FROM people WHERE name LIKE 'smi%' AND id > 1", [][]TermArg{{pre, {}}}, "match term",
			`WHERE phiguard.term_pre_v1(name) OPERATOR(pg_catalog.=) E'\\x4162432d5f39'::pg_catalog.bytea AND id > 1`},
		{"SELECT id FROM people WHERE id > 1 AND note ILIKE '%mit%'", [][]TermArg{{{}, toks}}, "match term",
			`WHERE id > 1 AND phiguard.term_match_v1(note) OPERATOR(pg_catalog.@>) '{aaaaaa,b-_b9Z}'::pg_catalog.bytea[]`},
		{"SELECT id FROM people WHERE name ~~* 'smith%' AND id > 1", [][]TermArg{{pre, toks}}, "match term",
			`WHERE (phiguard.term_pre_v1(name) OPERATOR(pg_catalog.=) E'\\x4162432d5f39'::pg_catalog.bytea AND phiguard.term_match_v1(name) OPERATOR(pg_catalog.@>) '{aaaaaa,b-_b9Z}'::pg_catalog.bytea[]) AND id > 1`},
		{"SELECT id FROM people WHERE id > 1 AND name LIKE 'a#%bc%' ESCAPE '#' AND code ILIKE $1", [][]TermArg{{pre, toks}, {{}, {Param: 4, Array: true}}}, "match term, match term",
			`WHERE id > 1 AND (phiguard.term_pre_v1(name) OPERATOR(pg_catalog.=) E'\\x4162432d5f39'::pg_catalog.bytea AND phiguard.term_match_v1(name) OPERATOR(pg_catalog.@>) '{aaaaaa,b-_b9Z}'::pg_catalog.bytea[]) AND phiguard.term_match_v1(code) OPERATOR(pg_catalog.@>) $4::pg_catalog.bytea[]`},
		{"SELECT id FROM people WHERE name LIKE $1 AND note LIKE 'x%'", [][]TermArg{nil, nil}, "match term, match term",
			"WHERE true AND true"},
		{"SELECT id FROM people WHERE name NOT LIKE 'a%' AND lower(note) LIKE 'smi%' AND city LIKE 'smi%' AND note NOT ILIKE 'b%'",
			make([][]TermArg, 4), ", , , ", "WHERE true AND true AND true AND true"},
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
		for _, lit := range []string{"'smi%'", "'%mit%'", "'smith%'", "'a#%bc%'", "'#'", "'x%'"} {
			if strings.Contains(string(out), lit) {
				t.Errorf("%s: the pattern %s was sent: %s", c.sql, lit, out)
			}
		}
	}
	plan := PlanFor(Analyze("SELECT id FROM people WHERE name LIKE 'smi%'"), pol)
	for _, bad := range [][]TermArg{{{}, {}}, {{}, {Tokens: []string{}}}, {{}, {Tokens: []string{"a'b"}}}, {{}, {Tokens: []string{"ab,cd"}}},
		{toks, {}}, {{}, pre}, {pre}} {
		if out, err := RewriteSortTerms([]byte("SELECT id FROM people WHERE name LIKE 'smi%'"), plan.Sort, [][]TermArg{bad}, nil); err == nil {
			t.Errorf("terms %+v: no error, sent %s", bad, out)
		}
	}
}
