package sqlrewrite

import (
	"strings"
	"testing"
)

// TestSortCutSkipsProbes: a WHERE the proxy filters, with the plan's
// lack probes put first in it (scope_probe.go), is cut as without them
// (sort_probe_skip.go): the same filters become true, and the probes
// stay in the text sent, in the subquery's array of cells too. A
// conjunct of the probe's form the client wrote itself is not taken for
// a probe: the plan's count of conjuncts fails the rewrite.
func TestSortCutSkipsProbes(t *testing.T) {
	pol := testPolicy(t)
	const probe = `(SELECT "first" FROM (SELECT NULL AS "first") AS phiguard_lacks, ONLY "z" AS phiguard_1 LIMIT 0) IS NULL AND `
	cases := []struct {
		sql  string
		at   string // the probe goes after the first of these
		sent []string
	}{
		{"SELECT id FROM patients WHERE first > 'M' AND id < 9", "WHERE ",
			[]string{"WHERE " + probe + "true AND id < 9"}},
		{"SELECT id FROM patients WHERE NOT (first > 'a' OR id = 1) OR birthdate IS NULL", "WHERE ",
			[]string{"WHERE " + probe + "true"}},
		{"SELECT id FROM patients WHERE ((first > 'a' AND id = 1) AND birthdate < '2000-01-01') AND (id = 2 AND id = 3)", "WHERE ",
			[]string{"WHERE " + probe + "((true AND id = 1) AND true) AND (id = 2 AND id = 3)"}},
		{"SELECT p.id FROM patients p WHERE EXISTS (SELECT 1 FROM patients q WHERE q.first > 'M' AND q.id = p.id)", "q WHERE ",
			[]string{"q WHERE " + probe + "true AND q.id = p.id", "ARRAY(SELECT q.first FROM patients q WHERE ( " + probe + "true AND q.id = p.id"}},
		{"SELECT p.id FROM patients p WHERE NOT EXISTS (SELECT 1 FROM patients q WHERE q.first > 'M' AND q.id = p.id)", "q WHERE ",
			[]string{"ARRAY(SELECT q.first FROM patients q WHERE ( " + probe + "true AND q.id = p.id"}},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil {
			t.Fatalf("%s: no plan (%v)", c.sql, plan.Refusal)
		}
		at := strings.Index(c.sql, c.at) + len(c.at)
		probed := c.sql[:at] + probe + c.sql[at:]
		// The planner counts the probes it puts there (scope_probe.go
		// countProbes); this plan was made without them.
		probes := &plan.Sort.probes
		if c.at != "WHERE " {
			probes = &plan.Sort.groups[0].probes
		}
		*probes = 1
		out, err := RewriteSort([]byte(probed), plan.Sort)
		if err != nil {
			t.Fatalf("%s: %v", probed, err)
		}
		out = ungated(plan.Sort, out)
		for _, w := range c.sent {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: sent\n%s\nwithout %q", probed, out, w)
			}
		}
		// Without the plan's probe, the client's own conjunct of its
		// form: one conjunct fewer than the plan has.
		if !strings.Contains(c.sql, " AND ") {
			continue
		}
		fake := strings.Replace(c.sql, c.at, c.at+probe, 1)
		fake = strings.Replace(fake, probe+strings.SplitN(c.sql[at:], " AND ", 2)[0]+" AND ", probe, 1)
		*probes = 0
		if out, err := RewriteSort([]byte(fake), plan.Sort); err == nil {
			t.Errorf("%s: a client's conjunct of the probe's form was skipped and the rewrite went through:\n%s", fake, out)
		}
	}
}
