package sqlrewrite

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

func arrayPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	pol, err := ParsePolicy([]byte(`
version: 1
tables:
  public.lists:
    columns:
      tags:  {mode: randomized, key: k, type: 'varchar(8)[]'}
      nums:  {mode: randomized, key: k, type: 'integer[]'}
      amts:  {mode: randomized, key: k, type: 'numeric(6,2)[]'}
      days:  {mode: randomized, key: k, type: 'date[]'}
      ssn:   {mode: deterministic, key: d, type: text}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	return pol
}

// TestPlanArrayConstructors: the ARRAY[...] constructors psycopg2 writes
// are folded into one slot (the first element's literal, widened to the
// constructor) where PostgreSQL's assignment is each element's input;
// the others are refused.
func TestPlanArrayConstructors(t *testing.T) {
	pol := arrayPolicy(t)
	folded := []struct{ sql, slot string }{
		{"INSERT INTO lists (tags) VALUES (ARRAY['a', NULL, 'b'])", "literal #0 (folded: 6 bytes before, 1 after) (array [3] of [{0 false} {-1 false} {1 false}] through literal #1) write public.lists.tags"},
		{"INSERT INTO lists (nums) VALUES (ARRAY[1,-2])", "literal #0 (folded: 6 bytes before, 1 after) (array [2] of [{0 false} {1 true}] through literal #1) write public.lists.nums"},
		{"INSERT INTO lists (nums) VALUES (ARRAY[ARRAY[1,2],ARRAY[3,4]])", "literal #0 (folded: 12 bytes before, 2 after) (array [2 2] of [{0 false} {1 false} {2 false} {3 false}] through literal #3) write public.lists.nums"},
		{"INSERT INTO lists (nums) VALUES (ARRAY[2.5])", "literal #0 (folded: 6 bytes before, 1 after) (array [1] of [{0 false}] through literal #0) write public.lists.nums"},
		{"INSERT INTO lists (amts) VALUES (ARRAY[1.5, 2])", "literal #0 (folded: 6 bytes before, 1 after) (array [2] of [{0 false} {1 false}] through literal #1) write public.lists.amts"},
		{"UPDATE lists SET days = ARRAY['2024-01-01'::date] WHERE ssn = 'x'", "literal #0 (folded: 6 bytes before, 7 after) (array [1] of [{0 false}] through literal #0) write public.lists.days"},
	}
	for _, c := range folded {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Refusal != nil || len(plan.Values) == 0 || plan.Values[0].String() != c.slot {
			t.Errorf("%s:\n got  %v %v\n want %s", c.sql, plan.Values, plan.Refusal, c.slot)
		}
	}
	for _, sql := range []string{
		"INSERT INTO lists (nums) VALUES (ARRAY['1'])",
		"INSERT INTO lists (tags) VALUES (ARRAY[1])",
		"INSERT INTO lists (tags) VALUES (ARRAY[NULL])",
		"INSERT INTO lists (tags) VALUES (ARRAY[]::text[])",
		"INSERT INTO lists (tags) VALUES (ARRAY['a'::char])",
		"INSERT INTO lists (tags) VALUES (ARRAY['a'] || ARRAY['b'])",
		"INSERT INTO lists (nums) VALUES (ARRAY[ARRAY[1],ARRAY[2,3]])",
		"INSERT INTO lists (days) VALUES (ARRAY['2024-01-01'::timestamp])",
		"INSERT INTO lists (ssn) VALUES (ARRAY['a'])",
		"SELECT 1 FROM lists WHERE tags = ARRAY['a']",
	} {
		plan := PlanFor(Analyze(sql), pol)
		if plan.Refusal == nil || !strings.HasPrefix(string(plan.Refusal.Code), "0A") {
			t.Errorf("%s: %v %v, want refused", sql, plan.Values, plan.Refusal)
		}
	}
}
