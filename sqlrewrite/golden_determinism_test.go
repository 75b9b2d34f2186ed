package sqlrewrite

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// TestGoldenRunsTheSameEveryTime: a refusal names the same column, and a
// rewrite is the same text, each time a statement is analysed (Go's map
// order once chose which of two encrypted columns a refusal of a rewritten
// CREATE TABLE AS named). Each golden case, and the plan of each rewrite,
// is made eight times.
func TestGoldenRunsTheSameEveryTime(t *testing.T) {
	r := &goldenRunner{t: t, policies: map[string]*policy.Policy{}, objs: newGoldenObjects()}
	for _, path := range goldenFiles(t) {
		for _, c := range parseGolden(t, path).cases {
			if c.commentOnly() {
				continue
			}
			first := strings.Join(r.run(c), "\n")
			firstPlan := r.rewritePlan(c)
			for range 7 {
				if got := strings.Join(r.run(c), "\n"); got != first {
					t.Fatalf("%s:%d: ran differently:\n%s\nthen\n%s", c.file, c.line, first, got)
				}
				if got := r.rewritePlan(c); got != firstPlan {
					t.Fatalf("%s:%d: the rewrite planned differently:\n%s\nthen\n%s", c.file, c.line, firstPlan, got)
				}
			}
		}
	}
}

// rewritePlan is the encryption plan of a role's rewrite of c.
func (r *goldenRunner) rewritePlan(c *goldenCase) string {
	if c.role == "encrypt" || c.role == "none" {
		return ""
	}
	pol := r.policy(c.policy)
	role, _ := pol.Role(c.role)
	acc := AccessFor(c.sql, Analyze(c.sql), pol, role, r.objs, c.breakGlass)
	if !acc.Changed || acc.Refusal != nil {
		return ""
	}
	return strings.Join(planLines(PlanFor(Analyze(acc.SQL), pol)), "\n")
}
