package sqlrewrite

import "github.com/phiguard/phiguard/policy"

// planEntry is an analysis's plan under one policy version.
type planEntry struct {
	version string
	plan    *Plan
}

// PlanUnder returns the analysis's plan under pol, computing it on first
// use and whenever the policy version changes. The plan is cached on the
// analysis itself, so it is shared by every session and keyed by policy
// version: a plan made under one policy never serves another.
func (a *Analysis) PlanUnder(pol *policy.Policy) *Plan {
	if pol == nil {
		return &Plan{}
	}
	if e := a.plan.Load(); e != nil && e.version == pol.Version() {
		return e.plan
	}
	p := PlanFor(a, pol)
	a.plan.Store(&planEntry{version: pol.Version(), plan: p})
	return p
}

// LiteralSpans returns the byte ranges of sql's literals, indexed as plans
// index them (ValueSlot.Literal).
func LiteralSpans(sql []byte) [][2]int {
	if _, spans, ok := appendShape(nil, sql, nil); ok && verifyShape(string(sql), spans) {
		out := make([][2]int, len(spans))
		for i, sp := range spans {
			out[i] = [2]int{sp.start, sp.end}
		}
		return out
	}
	return scannerSpans(string(sql))
}
