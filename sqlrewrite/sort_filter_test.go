package sqlrewrite

import (
	"strings"
	"testing"
)

// TestFilterPlans: the WHERE conjuncts the proxy evaluates, and the text
// sent for them: each replaced by true, its column and constants hidden
// columns; the conjuncts the database evaluates stay as written.
func TestFilterPlans(t *testing.T) {
	pol := testPolicy(t)
	cases := []struct {
		sql  string
		plan string // SortPlan.String()
		sent []string
	}{
		{"SELECT id FROM patients WHERE first > 'M' AND id < 9",
			"proxy filters public.patients.first > #1 (#0); proxy keeps the database's order; 3 hidden columns",
			[]string{"WHERE true AND id < 9", ", first, (CAST(CAST(pg_catalog.pg_typeof(CASE WHEN false THEN CAST(NULL AS pg_catalog.text) ELSE ('M') END) AS pg_catalog.oid)"}},
		{"SELECT p.id FROM patients p WHERE '1990-01-01' <= p.birthdate AND p.ssn = $1 ORDER BY p.id LIMIT 2",
			"proxy filters public.patients.birthdate >= #3 (#2); proxy sorts by rank (#0), LIMIT #1; 4 hidden columns",
			[]string{"WHERE true AND p.ssn = $1", "ELSE ('1990-01-01') END"}},
		{"SELECT id FROM admissions WHERE (amount BETWEEN $1 AND 2.5) AND visits IS NOT DISTINCT FROM $2::int AND admitted NOT BETWEEN SYMMETRIC '2024-01-01' AND now()",
			"", nil}, // now() is not a constant: the third conjunct is refused
		{"SELECT id FROM admissions WHERE (amount BETWEEN $1 AND 2.5) AND visits IS NOT DISTINCT FROM $2::int AND seen NOT BETWEEN SYMMETRIC '2024-01-01' AND '2025-01-01'::timestamp",
			"proxy filters public.admissions.amount BETWEEN #1 AND #2 (#0), public.admissions.visits IS NOT DISTINCT FROM #4 (#3), public.admissions.seen NOT BETWEEN SYMMETRIC #6 AND #7 (#5); proxy keeps the database's order; 8 hidden columns",
			[]string{"WHERE true AND true AND true", "ELSE ($1) END", "ELSE (2.5) END", "ELSE ($2::int) END", "ELSE ('2025-01-01'::timestamp) END"}},
		// PostgreSQL flattens the ANDs of the first operand, in
		// parentheses or not, but not those of the others.
		{"SELECT id FROM patients WHERE ((first > 'a' AND id = 1) AND birthdate < '2000-01-01') AND (id = 2 AND id = 3)",
			"proxy filters public.patients.first > #1 (#0), public.patients.birthdate < #4 (#3); proxy keeps the database's order; 5 hidden columns",
			[]string{"WHERE ((true AND id = 1) AND true) AND (id = 2 AND id = 3)"}},
		{"SELECT id FROM patients WHERE id = 3 AND (first > 'a' AND id = 1)", "", nil},
		{"SELECT first FROM patients WHERE first <> 'x' AND birthdate IS NULL AND ssn <> 'y' ORDER BY first DESC OFFSET 1",
			"proxy filters public.patients.first <> #3 (#2); proxy sorts by public.patients.first DESC (select-list entry 1), OFFSET #1; 5 hidden columns",
			[]string{"WHERE true AND birthdate IS NULL AND ssn <> 'y'"}},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if c.plan == "" {
			if plan.Refusal == nil {
				t.Errorf("%s: not refused", c.sql)
			}
			continue
		}
		if plan.Sort == nil {
			t.Fatalf("%s: no plan (%v)", c.sql, plan.Refusal)
		}
		if got := plan.Sort.String(); got != c.plan {
			t.Errorf("%s:\n got %s\nwant %s", c.sql, got, c.plan)
		}
		out, err := RewriteSort([]byte(c.sql), plan.Sort)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		t.Logf("%s\n→ %s", c.sql, out)
		for _, w := range c.sent {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: sent\n%s\nwithout %q", c.sql, out, w)
			}
		}
	}
}
