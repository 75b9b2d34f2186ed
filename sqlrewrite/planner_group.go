package sqlrewrite

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Proxy-side GROUP BY (issue 13). A top-level SELECT whose GROUP BY lists
// columns, each also a select-list entry, and whose other select-list
// entries are aggregates phiguard computes (planner_aggregate.go), with no
// HAVING, ORDER BY, LIMIT or OFFSET, and that needs phiguard (a
// randomized group column, an aggregate, or its WHERE), is sent without
// its GROUP BY and with each aggregate replaced by its argument. phiguard
// groups the rows as it removes a DISTINCT's duplicates (the group
// columns are the DISTINCT keys: planner_distinct.go) and computes the
// aggregates per group (proxy/protect_group.go).

// groupShape reads a grouped select list: the aggregates (Target set)
// and the select-list entries that are group columns; nil when the
// statement is not that shape.
func (p *planner) groupShape(s *pg_query.SelectStmt, sc *scope, top bool) ([]Aggregate, []int) {
	groups := s.GetGroupClause()
	if !top || len(groups) == 0 || len(s.GetDistinctClause()) > 0 || s.GetHavingClause() != nil ||
		len(s.GetWindowClause()) > 0 || len(s.GetLockingClause()) > 0 || s.GetIntoClause() != nil ||
		len(s.GetSortClause()) > 0 || s.GetLimitCount() != nil || s.GetLimitOffset() != nil || s.GetGroupDistinct() {
		return nil, nil
	}
	targets := s.GetTargetList()
	if slices.ContainsFunc(groups, func(g *pg_query.Node) bool { return g.GetGroupingSet() != nil }) {
		return nil, nil
	}
	groups, aliased := groupItems(s, sc)
	if aliased {
		return nil, nil // the walk refuses it if it is encrypted
	}
	for _, g := range groups {
		if g.GetColumnRef() == nil || refNames(g.GetColumnRef()) == "" || !inSelectList(g, targets) {
			return nil, nil
		}
	}
	var aggs []Aggregate
	var keys []int
	for i, t := range targets {
		v := t.GetResTarget().GetVal()
		if v.GetColumnRef() != nil {
			if !slices.ContainsFunc(groups, func(g *pg_query.Node) bool { return sameExpr(g, v) }) {
				return nil, nil
			}
			keys = append(keys, i)
			continue
		}
		a, ok := aggregateCall(t.GetResTarget(), sc)
		if !ok {
			return nil, nil
		}
		a.Target = i
		aggs = append(aggs, a)
	}
	return aggs, keys
}

// groupItems is the GROUP BY list as PostgreSQL reads it: ROLLUP, CUBE
// and GROUPING SETS flattened into their items, a position (GROUP BY 1)
// made the select-list entry it names, and a bare name that is no
// protected column made the entry it names as an output name. Left as
// written, GROUP BY 1 over a randomized column reached the database,
// which grouped the ciphertexts: every row its own group. A bare name
// means an input column before an output name in GROUP BY (unlike ORDER
// BY), and phiguard cannot see the unprotected tables' columns, so such
// an item is reported (aliased): the statement is not grouped by phiguard,
// and the walk refuses it when the entry is encrypted.
func groupItems(s *pg_query.SelectStmt, sc *scope) (items []*pg_query.Node, aliased bool) {
	targets := s.GetTargetList()
	for _, g := range groupingItems(s.GetGroupClause()) {
		isName := g.GetColumnRef() != nil
		if isName {
			if kind, _ := sc.resolve(g.GetColumnRef()); kind != refPlain {
				items = append(items, g)
				continue
			}
		}
		if i, ok := outputReference(g, targets); ok && !sameExpr(g, targets[i].GetResTarget().GetVal()) {
			aliased = aliased || isName // GROUP BY grp of a select-list grp is no alias
			g = targets[i].GetResTarget().GetVal()
		}
		items = append(items, g)
	}
	return items, aliased
}

// groupBy walks a GROUP BY phiguard does not evaluate: its items as
// written, and what its positions and output names name.
func (p *planner) groupBy(s *pg_query.SelectStmt, sc *scope) {
	for _, g := range s.GetGroupClause() {
		p.expr(g, sc, ctxGroup)
	}
	if len(s.GetGroupClause()) == 0 {
		return
	}
	items, _ := groupItems(s, sc)
	for _, g := range items {
		p.expr(g, sc, ctxGroup)
	}
}

// groupNeedsProxy: a group column the database cannot compare by cells.
func groupNeedsProxy(s *pg_query.SelectStmt, sc *scope, keys []int) bool {
	for _, i := range keys {
		if kind, col := sc.resolve(s.GetTargetList()[i].GetResTarget().GetVal().GetColumnRef()); kind == refColumn && !byCell(col) {
			return true
		}
	}
	return false
}

// groupPlan makes the SortPlan of a grouped statement phiguard groups:
// the aggregates' and the group columns' (as DISTINCT keys).
func (p *planner) groupPlan(s *pg_query.SelectStmt, sc *scope, aggs []Aggregate, keys []int, filters []filterCand, conjuncts int) {
	p.aggregatePlan(s, aggs, filters, conjuncts)
	sp := p.plan.Sort
	if p.plan.Refusal != nil || sp == nil {
		return
	}
	add := func(h hiddenColumn) int {
		sp.hidden = append(sp.hidden, h)
		return len(sp.hidden) - 1
	}
	var plain []int
	for _, i := range keys {
		kind, col := sc.resolve(s.GetTargetList()[i].GetResTarget().GetVal().GetColumnRef())
		if kind == refAmbiguous || kind == refStar || kind == refWholeRow {
			if col == nil {
				col = firstColumn(sc)
			}
			p.refuse(col, "GROUP BY a whole row or an unqualified name that could be encrypted")
			return
		}
		if kind != refColumn {
			plain = append(plain, i)
			continue
		}
		if !p.addEqualityKey(sp, col, i, "GROUP BY", add) { // planner_distinct.go
			return
		}
	}
	if len(plain) > 0 {
		sp.Distinct = append(sp.Distinct, SortKey{Value: add(hiddenColumn{kind: hiddenDistinctRank, targets: plain}), Target: -1, Collation: -1})
	}
	sp.Grouped = true
	sp.Hidden = len(sp.hidden)
}
