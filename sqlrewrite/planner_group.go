package sqlrewrite

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Proxy-side GROUP BY (issue 13). A top-level SELECT whose GROUP BY lists
// columns, each also a select-list entry, and whose other select-list
// entries are aggregates phiguard computes (planner_aggregate.go), with a
// HAVING phiguard evaluates (planner_having.go) or none, and that needs
// phiguard (a randomized group column, an aggregate, or its WHERE), is
// sent without its GROUP BY, HAVING, ORDER BY, LIMIT
// and OFFSET and with each aggregate replaced by its argument. phiguard
// groups the rows as it removes a DISTINCT's duplicates (the group
// columns are the DISTINCT keys: planner_distinct.go), computes the
// aggregates per group, and sorts the groups by the ORDER BY, whose every
// item is a select-list entry (a group column or an aggregate; by
// position, output name or as written), before OFFSET and LIMIT
// (guard/protect_group.go): an encrypted group column by its value, the
// plaintext ones by the rank PostgreSQL gives each row under them (the
// same for every row of a group), an aggregate by its value.

// groupShape reads a grouped select list: the aggregates (Target set)
// and the select-list entries that are group columns; nil when the
// statement is not that shape.
func (p *planner) groupShape(s *pg_query.SelectStmt, sc *scope, top bool) ([]Aggregate, []int) {
	groups := s.GetGroupClause()
	if !top || len(groups) == 0 || len(s.GetDistinctClause()) > 0 ||
		len(s.GetWindowClause()) > 0 || len(s.GetLockingClause()) > 0 || s.GetIntoClause() != nil ||
		s.GetGroupDistinct() ||
		s.GetLimitOption() == pg_query.LimitOption_LIMIT_OPTION_WITH_TIES || !plainLimit(s.GetLimitCount()) || !plainLimit(s.GetLimitOffset()) {
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
	if _, ok := groupSortItems(s, sc, aggs); !ok {
		return nil, nil
	}
	if h := s.GetHavingClause(); h != nil {
		if _, ok := p.havingTree(h, sc, targets, aggs, groups, nil); !ok { // planner_having.go
			return nil, nil
		}
	}
	return aggs, keys
}

// groupSortItems resolves the ORDER BY of a grouped statement phiguard
// groups: each item must name a select-list entry (by position, output
// name, or written the same), a group column or one of aggs; ok is false
// when one does not.
func groupSortItems(s *pg_query.SelectStmt, sc *scope, aggs []Aggregate) ([]sortItem, bool) {
	targets := s.GetTargetList()
	var items []sortItem
	for _, o := range s.GetSortClause() {
		sb := o.GetSortBy()
		t, named := outputReference(sb.GetNode(), targets)
		if !named && t != ambiguousName {
			t = slices.IndexFunc(targets, func(n *pg_query.Node) bool { return sameExpr(sb.GetNode(), n.GetResTarget().GetVal()) })
		}
		if t < 0 || sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_USING {
			return nil, false
		}
		it := sortItem{target: t, node: targets[t].GetResTarget().GetVal(), sb: sb}
		if !named {
			it.target = -1 // written out: a rank of it copies the text as written
		}
		if a := slices.IndexFunc(aggs, func(a Aggregate) bool { return a.Target == t }); a >= 0 {
			it.agg = a + 1
			if aggs[a].Func != "count" {
				it.col = aggs[a].Column
			}
		} else if kind, col := sc.resolve(it.node.GetColumnRef()); kind == refColumn {
			it.col = col
		}
		items = append(items, it)
	}
	return items, true
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
	ctx := ctxGroup
	if s.GetHavingClause() != nil { // one phiguard evaluates is grouped before this
		ctx = ctxGroupHaving
	}
	for _, g := range s.GetGroupClause() {
		p.expr(g, sc, ctx)
	}
	if len(s.GetGroupClause()) == 0 {
		return
	}
	items, _ := groupItems(s, sc)
	for _, g := range items {
		p.expr(g, sc, ctx)
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

// groupOrderNeedsProxy: an ORDER BY item is a group column the database
// cannot order by its cells (any encrypted one).
func groupOrderNeedsProxy(s *pg_query.SelectStmt, sc *scope, aggs []Aggregate) bool {
	items, _ := groupSortItems(s, sc, aggs)
	return slices.ContainsFunc(items, func(it sortItem) bool { return it.col != nil && it.agg == 0 })
}

// groupPlan makes the SortPlan of a grouped statement phiguard groups:
// the aggregates' and the group columns' (as DISTINCT keys).
func (p *planner) groupPlan(s *pg_query.SelectStmt, sc *scope, aggs []Aggregate, keys []int, filters []filterCand, conjuncts int) {
	items, _ := groupSortItems(s, sc, aggs)
	p.aggregatePlan(s, aggs, items, filters, conjuncts)
	p.noteAnalysedFirst(sc)
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
	p.planHaving(s, sc, sp, aggs) // planner_having.go
	sp.Hidden = len(sp.hidden)
}
