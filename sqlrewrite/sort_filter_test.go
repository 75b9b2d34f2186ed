package sqlrewrite

import (
	"strings"
	"testing"
)

// TestFilterPlans: the WHERE conjuncts the proxy evaluates, and the text
// sent for them: each replaced by true, its column a hidden column, its
// constants nowhere (absent: not in the text sent); the conjuncts the
// database evaluates stay as written.
func TestFilterPlans(t *testing.T) {
	pol := testPolicy(t)
	cases := []struct {
		sql    string
		plan   string // SortPlan.String()
		sent   []string
		absent []string
	}{
		{"SELECT id FROM patients WHERE first > 'M' AND id < 9",
			"proxy filters public.patients.first > literal #0 (#0); proxy keeps the database's order; 3 hidden columns",
			[]string{"WHERE true AND id < 9", "SELECT id, first, (SELECT"}, []string{"'M'"}},
		{"SELECT p.id FROM patients p WHERE '1990-01-01' <= p.birthdate AND p.ssn = $1 ORDER BY p.id LIMIT 2",
			"proxy filters public.patients.birthdate >= literal #0 (#2); proxy keeps the database's order, LIMIT #1; database orders by the client's ORDER BY (plaintext keys only), FETCH FIRST k ROWS ONLY (#0); 4 hidden columns",
			[]string{"WHERE true AND p.ssn = $1  ORDER BY p.id FETCH FIRST", `, p.birthdate AS "phiguard hidden", CAST('' AS pg_catalog.text) AS "phiguard hidden"`}, []string{"1990"}},
		{"SELECT id FROM admissions WHERE (amount BETWEEN $1 AND 2.5) AND visits IS NOT DISTINCT FROM $2::int AND admitted NOT BETWEEN SYMMETRIC '2024-01-01' AND now()",
			"", nil, nil}, // now() is not a constant: the third conjunct is refused
		{"SELECT id FROM admissions WHERE (amount BETWEEN $1 AND 2.5) AND visits IS NOT DISTINCT FROM $2::int AND seen NOT BETWEEN SYMMETRIC '2024-01-01' AND '2025-01-01'::timestamp",
			"proxy filters public.admissions.amount BETWEEN $1 AND literal #0 (#0), public.admissions.visits IS NOT DISTINCT FROM $2::23 (#1), public.admissions.seen NOT BETWEEN SYMMETRIC literal #1 AND literal #2::1114 (#2); proxy keeps the database's order; 4 hidden columns",
			[]string{"SELECT id, amount, visits, seen, CAST('' AS pg_catalog.text)", "FROM admissions WHERE true AND true AND true"}, []string{"$1", "$2", "2.5", "2024", "2025"}},
		// Signs, casts, NULL and a LIKE's ESCAPE: where each constant is.
		{"SELECT id FROM admissions WHERE amount > -2.5 AND amount < -CAST('3' AS numeric) AND visits IS DISTINCT FROM NULL",
			"proxy filters public.admissions.amount > -literal #0 (#0), public.admissions.amount < -literal #1::1700 (#1), public.admissions.visits IS DISTINCT FROM NULL (#2); proxy keeps the database's order; 4 hidden columns",
			[]string{"WHERE true AND true AND true"}, []string{"2.5", "'3'", "NULL"}},
		{"SELECT id FROM patients WHERE first LIKE 'M%' AND first NOT LIKE $1 ESCAPE '!'",
			"proxy filters public.patients.first LIKE literal #0 (#0), public.patients.first NOT LIKE $1 ESCAPE literal #1 (#3); proxy keeps the database's order; 5 hidden columns",
			[]string{"CAST(pg_catalog.getdatabaseencoding() AS pg_catalog.text)", "WHERE true AND true"}, []string{"M%", "$1", "'!'", "like_escape"}},
		// PostgreSQL flattens the ANDs of the first operand, in
		// parentheses or not, but not those of the others.
		{"SELECT id FROM patients WHERE ((first > 'a' AND id = 1) AND birthdate < '2000-01-01') AND (id = 2 AND id = 3)",
			"proxy filters public.patients.first > literal #0 (#0), public.patients.birthdate < literal #2 (#2); proxy keeps the database's order; 4 hidden columns",
			[]string{"WHERE ((true AND id = 1) AND true) AND (id = 2 AND id = 3)"}, []string{"'a'", "2000"}},
		// An AND in parentheses after the first operand is one conjunct,
		// a tree the proxy evaluates whole (planner_filter_tree.go).
		{"SELECT id FROM patients WHERE id = 3 AND (first > 'a' AND id = 1)",
			"proxy filters public.patients.first > literal #1 (in tree 1, #0); proxy evaluates AND(filter 1, #2); proxy keeps the database's order; 4 hidden columns",
			[]string{"WHERE id = 3 AND true", "CAST((id = 1) AS pg_catalog.text)"}, []string{"'a'"}},
		{"SELECT id FROM patients WHERE NOT (first > 'a' OR id = 1) OR birthdate IS NULL",
			"proxy filters public.patients.first > literal #0 (in tree 1, #0); proxy evaluates OR(NOT(OR(filter 1, #2)), #3); proxy keeps the database's order; 5 hidden columns",
			[]string{"WHERE true", "CAST((id = 1) AS pg_catalog.text), CAST((birthdate IS NULL) AS pg_catalog.text)"}, []string{"'a'"}},
		{"SELECT first FROM patients WHERE first <> 'x' AND birthdate IS NULL AND ssn <> 'y' ORDER BY first DESC OFFSET 1",
			"proxy filters public.patients.first <> literal #0 (select-list entry 1); proxy sorts by public.patients.first DESC (select-list entry 1), OFFSET #1; 3 hidden columns",
			[]string{"WHERE true AND birthdate IS NULL AND ssn <> 'y'"}, []string{"'x'"}},
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
		out = ungated(plan.Sort, out) // the gate of its probes first in the WHERE (planner_shadow.go)
		t.Logf("%s\n→ %s", c.sql, out)
		for _, w := range c.sent {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: sent\n%s\nwithout %q", c.sql, out, w)
			}
		}
		for _, w := range c.absent {
			if strings.Contains(string(out), w) {
				t.Errorf("%s: sent\n%s\nwith %q, a constant the database must not see", c.sql, out, w)
			}
		}
	}
}
