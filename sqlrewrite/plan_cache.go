package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// planEntry is an analysis's plan under one policy version.
type planEntry struct {
	version string
	plan    *Plan
}

// PlanUnder returns the analysis's plan under pol, computing it on first
// use and whenever the policy version changes. The plan is cached on the
// analysis itself, so it is shared by every session and keyed by policy
// version: a plan made under one policy never serves another.
//
// Once a plan is made the analysis lets go of its parse tree, which weighs
// 40 to 60 times the text: the plan was all the proxy needed it for, and
// the rare plan under a new policy version parses the text again. A
// caller without a policy releases it too (it has no use for it).
func (a *Analysis) PlanUnder(pol *policy.Policy) *Plan {
	if pol == nil {
		a.tree.Store(nil)
		return &Plan{}
	}
	if e := a.plan.Load(); e != nil && e.version == pol.Version() {
		return e.plan
	}
	p := PlanFor(a, pol)
	a.plan.Store(&planEntry{version: pol.Version(), plan: p})
	a.tree.Store(nil)
	return p
}

// PlanKnowing returns the analysis's plan under pol made knowing facts,
// the session's catalog: an unqualified name that PlanUnder's plan takes
// for an outer encrypted column binds to an inner table's column where
// facts are sure the table has one (Plan.Shadowed), as PostgreSQL binds
// it. The guard asks for it only when the catalog says such a table may
// have the name, where it refused the statement before. One such plan
// is kept on the analysis, under one policy version, and served again
// while every fact it rests on (Shadowed, Unshadowed) still holds.
func (a *Analysis) PlanKnowing(pol *policy.Policy, facts ColumnFacts) *Plan {
	if pol == nil {
		return &Plan{}
	}
	if e := a.known.Load(); e != nil && e.version == pol.Version() && factsHold(e.plan, facts) {
		return e.plan
	}
	p := planWith(a, pol, facts)
	a.known.Store(&planEntry{version: pol.Version(), plan: p})
	return p
}

// factsHold says whether facts agree with every fact plan rests on: the
// tables of Shadowed have their name, those of Unshadowed lack theirs.
func factsHold(plan *Plan, facts ColumnFacts) bool {
	for _, u := range plan.Shadowed {
		if has, sure := facts.TableHasColumn(u.Inner, u.Name); !has || !sure {
			return false
		}
	}
	for _, u := range plan.Unshadowed {
		if has, sure := facts.TableHasColumn(u.Inner, u.Name); has || !sure {
			return false
		}
	}
	return true
}

// syntax returns the parse tree: the one Analyze made if it is still held,
// else a fresh parse of the text (nil if the text does not parse). The
// tree is shared and must not be modified.
func (a *Analysis) syntax() *pg_query.ParseResult {
	if a.Err != nil {
		return nil
	}
	if t := a.tree.Load(); t != nil {
		return t
	}
	t, err := pg_query.Parse(a.sql)
	if err != nil {
		return nil
	}
	return t
}

// LiteralSpans returns the byte ranges of sql's literals, indexed as plans
// index them (ValueSlot.Literal), kept for recent texts (span_memo.go).
// The answer is shared and must not be modified.
func LiteralSpans(sql []byte) [][2]int {
	return literalMemo.spans(sql, literalSpans)
}

// literalSpans finds them: the shape scanner's answer checked by
// pg_query's own scanner, or the latter's alone.
func literalSpans(sql []byte) [][2]int {
	if _, spans, ok := appendShape(nil, sql, nil); ok && verifyShape(string(sql), spans) {
		out := make([][2]int, len(spans))
		for i, sp := range spans {
			out[i] = [2]int{sp.start, sp.end}
		}
		return out
	}
	return scannerSpans(string(sql))
}
