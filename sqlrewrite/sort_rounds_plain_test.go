package sqlrewrite

import (
	"strings"
	"testing"
)

// TestPlainRoundPlans: a LIMIT on an ORDER BY of plaintext keys only,
// over filters on encrypted columns, runs in plain rounds: the ORDER BY
// sent as written (an entry's position or output name as its position),
// FETCH FIRST k ROWS ONLY, no rank, every hidden column named
// hiddenAlias; without a LIMIT, with LIMIT ALL, DISTINCT, an encrypted
// key or a bare name that is hiddenAlias it keeps the rank.
func TestPlainRoundPlans(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted, search: [equality, match], search_key_version: 1, search_state: ready}
      born: {mode: randomized, key: k, type: date, state: encrypted}
`)
	cases := []struct {
		sql, mult string
		sent      string // "" : no rounds
	}{
		{"SELECT id, name FROM people WHERE name ILIKE '%mit%' ORDER BY id LIMIT 50", "1",
			" ORDER BY 1 FETCH FIRST CAST(79 AS pg_catalog.int8) ROWS ONLY"},
		{"SELECT id, created AS c FROM people p WHERE p.born > $1 ORDER BY c DESC NULLS FIRST, 1 USING > LIMIT $2 OFFSET $3", "$4",
			" ORDER BY 2 DESC NULLS FIRST, 1 USING > OFFSET CASE WHEN CAST(($3) AS pg_catalog.int8) < 0 THEN CAST(($3) AS pg_catalog.int8) WHEN false THEN ($3) END FETCH FIRST (CASE WHEN CAST(($2) AS pg_catalog.int8)"},
		// "text" is the name PostgreSQL gives a hidden CAST(... AS text)
		// but for its alias: the bare name must stay the input column.
		{"SELECT id FROM people p WHERE name = $1 ORDER BY text, p.note DESC FETCH FIRST 5 ROWS ONLY", "8",
			" ORDER BY text, p.note DESC FETCH FIRST CAST(184 AS pg_catalog.int8) ROWS ONLY"},
		{"SELECT id FROM people WHERE born > $1 ORDER BY id", "1", ""},
		{"SELECT id FROM people WHERE born > $1 ORDER BY id LIMIT ALL", "1", ""},
		{"SELECT DISTINCT id FROM people WHERE born > $1 ORDER BY id LIMIT 3", "1", ""},
		{"SELECT id FROM people WHERE born > $1 ORDER BY id, name LIMIT 3", "1", ""},
		{`SELECT id FROM people WHERE born > $1 ORDER BY "phiguard hidden" LIMIT 3`, "1", ""},
	}
	for _, c := range cases {
		sp, text := planRoundCase(t, pol, c.sql, c.mult, c.sent) // sort_rounds_test.go
		if c.sent == "" {
			out, err := RewriteSort([]byte(c.sql), sp)
			if err != nil || !strings.Contains(string(out), "dense_rank") || strings.Contains(string(out), ` AS "`+hiddenAlias) {
				t.Errorf("%s: sent %s (%v), want the rank and no alias", c.sql, out, err)
			}
			continue
		}
		r := sp.Rounds
		if !r.Plain() || r.Unordered() || r.TermKey() || r.Key != -1 || r.Column != nil || len(sp.Keys) != 0 {
			t.Fatalf("%s: %+v, keys %v, want plain rounds", c.sql, r, sp.Keys)
		}
		if !strings.Contains(text, c.sent) || !strings.HasSuffix(strings.TrimSpace(text), "ROWS ONLY") ||
			strings.Contains(text, "dense_rank") || strings.Contains(text, "term_ord") ||
			strings.Count(text, ` AS "`+hiddenAlias+`"`) != sp.Hidden || !multiplied(text, c.mult) {
			t.Errorf("%s: sent\n%s\nwant it to hold\n%s", c.sql, text, c.sent)
		}
	}
}
