package sqlrewrite

import (
	"strings"
	"testing"
)

// TestRedTeam39ClientProbeNotSkipped: a client's own conjunct of the
// probe's form, first in a WHERE without the plan's probes, followed by
// a parenthesised AND holding a filter. The cut skipped it as a probe;
// behind it (a AND b) AND c flattens to three conjuncts, the plan's count
// too, so the cut was shifted by one with no check failing: the filter
// first = 'Ann' was sent to the database (its constant with it, on the
// ciphertext) and the plaintext operand (id > 0 AND id < 50) sent as
// true. The cut now skips only the probes the plan put there.
func TestRedTeam39ClientProbeNotSkipped(t *testing.T) {
	pol := testPolicy(t)
	const fake = "(SELECT NULL FROM (SELECT 1) AS phiguard_lacks) IS NULL"
	for _, c := range []struct{ sql, want string }{
		{"SELECT id FROM patients WHERE " + fake + " AND (first = 'Ann' AND (id > 0 AND id < 50)) AND id < 100",
			fake + " AND true AND id < 100"},
		{"SELECT p.id FROM patients p WHERE EXISTS (SELECT 1 FROM patients q WHERE " + fake + " AND (q.id > 0 AND q.id < 50) AND q.first > 'M' AND q.id = p.id)",
			fake + " AND (q.id > 0 AND q.id < 50) AND true AND q.id = p.id"},
	} {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil {
			t.Fatalf("%s: no plan (%v)", c.sql, plan.Refusal)
		}
		out, err := RewriteSort([]byte(c.sql), plan.Sort)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if s := string(ungated(plan.Sort, out)); !strings.Contains(s, c.want) || strings.Contains(s, "'Ann'") || strings.Contains(s, "'M'") {
			t.Errorf("%s: sent\n%s\nwithout %q, or with the filter's constant", c.sql, s, c.want)
		}
	}
}

// TestRedTeam39GluedConjunct: a filtered conjunct written against a
// keyword, where(x), AND(x)AND, BETWEEN'a'AND'b'AND, was replaced by
// true glued to it (wheretrue, ANDtrueAND: one word to PostgreSQL): the
// rewrite failed its parse and the statement was refused (0A000, "could
// not rewrite ... syntax error at or near "ANDtrue"") where PostgreSQL
// answers; with a probe before the subquery's filter (41aadfe) always
// so for where(...). Now the replacement is spaced from a word it touches.
func TestRedTeam39GluedConjunct(t *testing.T) {
	pol := testPolicy(t)
	for _, c := range []struct{ sql, want string }{
		{"SELECT p.id FROM patients p WHERE EXISTS (SELECT 1 FROM patients q where(q.first > 'M') AND q.id = p.id)", "q where true AND q.id"},
		{"SELECT p.id FROM patients p where(p.first > 'M') AND p.id > 0", "p where true AND p.id > 0"},
		{"SELECT p.id FROM patients p where p.id > 0 AND(p.first > 'M')", "p.id > 0 AND true"},
		{"SELECT p.id FROM patients p where p.id > 0 AND(p.first > 'M')AND p.id < 9", "p.id > 0 AND true AND p.id < 9"},
		{"SELECT p.id FROM patients p where p.id > 0 AND NOT(p.first > 'M' OR p.id = 1)AND p.id < 9", "p.id > 0 AND true AND p.id < 9"},
		{"SELECT p.id FROM patients p WHERE p.id IN (SELECT q.id FROM patients q where(q.first > 'M'))AND p.id < 9", "q where true)AND p.id < 9"},
		{"SELECT p.id FROM patients p WHERE p.id > 0 AND NOT EXISTS(SELECT 1 FROM patients q where(q.first > 'M') AND q.id = p.id)AND p.id < 9", "p.id > 0 AND true AND p.id < 9"},
		{"SELECT p.id FROM patients p WHERE p.id > 0 AND p.first BETWEEN'a'AND'b'AND p.id < 9", "p.id > 0 AND true AND p.id < 9"},
	} {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil {
			t.Fatalf("%s: no plan (%v)", c.sql, plan.Refusal)
		}
		out, err := RewriteSort([]byte(c.sql), plan.Sort)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if s := string(ungated(plan.Sort, out)); !strings.Contains(s, c.want) {
			t.Errorf("%s: sent\n%s\nwithout %q", c.sql, s, c.want)
		}
	}
}
