package sqlrewrite

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// TestArrivalOrder: the plaintext run ending the ORDER BY of a statement
// phiguard sorts in one round is sent as the text's ORDER BY (an entry's
// position for an entry it names, the hidden columns named hiddenAlias)
// with a constant rank, not a dense_rank window; a run before an
// encrypted key, DISTINCT, rounds, a bare name that is hiddenAlias and a
// key the session's catalog lets phiguard send as its value keep theirs.
func TestArrivalOrder(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted}
      last: {mode: randomized, key: k, type: text, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
`)
	natives := func(table policy.TableName, column string) NativeType {
		if column == "id" {
			return NativeInteger
		}
		return NativeNone
	}
	cases := []struct {
		sql     string
		natives NativeColumn
		order   string // the text's ORDER BY, "" for a window
	}{
		{"SELECT v.id, p.name FROM visits v LEFT JOIN people p ON p.id = v.person WHERE v.person IN ($1) ORDER BY p.name ASC, v.seq ASC NULLS FIRST, v.id ASC", nil,
			" ORDER BY v.seq ASC NULLS FIRST, v.id ASC"},
		{"SELECT id AS n, name FROM people ORDER BY name DESC, n DESC LIMIT 5 OFFSET 2", nil, " ORDER BY 1 DESC LIMIT CASE"},
		{"SELECT note, name FROM people ORDER BY name, text USING >", nil, " ORDER BY text USING >"},
		{"SELECT id, name FROM people ORDER BY name, 1", nil, " ORDER BY 1"},
		// After a *, an output name is sent as written: 2 would be the
		// *'s second column (red team 31d).
		{"SELECT p.*, grp FROM people p ORDER BY name, grp DESC, id", nil, " ORDER BY grp DESC, id"},
		{"SELECT id, p.*, grp FROM people p ORDER BY name, grp, 1", nil, " ORDER BY grp, 1"},
		// A parenthesized name or position is the entry's position.
		{"SELECT id, name, note AS n FROM people ORDER BY name, (n) DESC, ((1))", nil, " ORDER BY 3 DESC, 1"},
		{"SELECT id, name FROM people WHERE name = $1 ORDER BY name, id", natives, ""},
		{"SELECT id, name FROM people ORDER BY id, name", nil, ""},
		{"SELECT DISTINCT note, name FROM people ORDER BY name, note", nil, ""},
		{"SELECT id, last FROM people ORDER BY last, id LIMIT 5", nil, ""},
		{`SELECT id, name FROM people ORDER BY name, "phiguard hidden"`, nil, ""},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil {
			t.Fatalf("%s: no sort plan (%v)", c.sql, plan.Refusal)
		}
		var out []byte
		var err error
		if plan.Sort.Rounds != nil {
			out, err = RewriteSortRounds([]byte(c.sql), plan.Sort, nil, "1", c.natives)
		} else {
			out, err = RewriteSortTerms([]byte(c.sql), plan.Sort, nil, c.natives)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		got := string(out)
		if c.order == "" {
			if strings.Contains(got, arrivalRankText) || plan.Sort.Rounds == nil && strings.Contains(got, " ORDER BY ") {
				t.Errorf("%s: want no ORDER BY of the run, its rank kept:\n%s", c.sql, got)
			}
			continue
		}
		if !strings.Contains(got, c.order) || strings.Contains(got, "dense_rank") || !strings.Contains(got, arrivalRankText+` AS "`+hiddenAlias+`"`) {
			t.Errorf("%s: want%s and a constant rank, no window:\n%s", c.sql, c.order, got)
		}
		if n := strings.Count(got, ` AS "`+hiddenAlias+`"`); n != plan.Sort.Hidden {
			t.Errorf("%s: %d hidden columns named, want %d:\n%s", c.sql, n, plan.Sort.Hidden, got)
		}
	}
}
