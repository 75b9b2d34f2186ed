package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Proxy-side HAVING (issue 13, docs/search.md "GROUP BY"). A statement
// phiguard groups (planner_group.go) may have a HAVING that is a tree of
// AND, OR and NOT over
//
//   - a count phiguard computes, written as a select-list entry is
//     (count(*) > 1), compared with a constant or a parameter: a count is
//     no PHI, so the constant is sent to the database in a hidden column,
//     CAST((c) AS pg_catalog.int8) (numeric for a decimal literal), as
//     PostgreSQL types it against int8 (a parameter is then int8 for both);
//   - min or max of an encrypted column phiguard computes compared with
//     constants, read as a filter on the column (planner_having_minmax.go):
//     those constants stay out of the database, as a WHERE's;
//   - a plaintext predicate the database can compute on any row
//     (planner_filter_tree.go) that reads group columns only, the same
//     in every row of a group: a hidden column of its truth.
//
// The text is sent without its HAVING (and without its GROUP BY), and
// the proxy evaluates the tree per group, with three-valued logic, on
// the group's counts and its first row's hidden columns, before the
// ORDER BY, OFFSET and LIMIT (guard/protect_having.go). Anything else in
// a HAVING keeps the statement out of phiguard's grouping (refused when
// it groups an encrypted column: GROUP BY with HAVING).

// havingTree is the plan of a HAVING, or false when phiguard cannot
// evaluate it. groups are the GROUP BY items.
func (p *planner) havingTree(n *pg_query.Node, sc *scope, targets []*pg_query.Node, aggs []Aggregate, groups []*pg_query.Node, path []boolStep) (*boolCand, bool) {
	if b := n.GetBoolExpr(); b != nil {
		op := map[pg_query.BoolExprType]BoolOp{pg_query.BoolExprType_AND_EXPR: BoolAnd,
			pg_query.BoolExprType_OR_EXPR: BoolOr, pg_query.BoolExprType_NOT_EXPR: BoolNot}[b.GetBoolop()]
		if op == 0 || op == BoolNot && len(b.GetArgs()) != 1 {
			return nil, false
		}
		node := &boolCand{op: op, conjunct: -1, path: path}
		for k, a := range b.GetArgs() {
			step := append(append([]boolStep(nil), path...), boolStep{op: op, n: len(b.GetArgs()), i: k})
			child, ok := p.havingTree(a, sc, targets, aggs, groups, step)
			if !ok {
				return nil, false
			}
			node.args = append(node.args, child)
		}
		return node, true
	}
	if c, ok := havingCount(n, targets, aggs, path); ok {
		return c, true
	}
	if c, ok := p.havingMinMax(n, sc, targets, aggs, path); ok { // planner_having_minmax.go
		return c, true
	}
	if safePlainLeaf(n) && onlyGroupColumns(n, groups) {
		return &boolCand{op: BoolPlain, conjunct: -1, path: path, node: n}, true
	}
	return nil, false
}

// havingCount: count(...) op constant, count(...) a select-list entry
// phiguard computes.
func havingCount(n *pg_query.Node, targets []*pg_query.Node, aggs []Aggregate, path []boolStep) (*boolCand, bool) {
	e := n.GetAExpr()
	if e == nil || e.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || len(e.GetName()) != 1 {
		return nil, false
	}
	op, ok := map[string]FilterOp{"=": FilterEq, "<>": FilterNe, "!=": FilterNe, "<": FilterLt,
		"<=": FilterLe, ">": FilterGt, ">=": FilterGe}[e.GetName()[0].GetString_().GetSval()]
	if !ok {
		return nil, false
	}
	agg, k := countOf(e.GetLexpr(), targets, aggs), e.GetRexpr()
	right := false
	if agg < 0 {
		agg, k, right = countOf(e.GetRexpr(), targets, aggs), e.GetLexpr(), true
		op = map[FilterOp]FilterOp{FilterLt: FilterGt, FilterLe: FilterGe, FilterGt: FilterLt, FilterGe: FilterLe, FilterEq: FilterEq, FilterNe: FilterNe}[op]
	}
	if agg < 0 || k.GetAConst() == nil && k.GetParamRef() == nil {
		return nil, false
	}
	c := &boolCand{op: BoolCount, conjunct: -1, path: path, node: k, agg: agg, cmp: op, constRight: !right}
	c.decimal = k.GetAConst().GetFval() != nil
	return c, true
}

// countOf is the index in aggs of the count n is written as, or -1.
func countOf(n *pg_query.Node, targets []*pg_query.Node, aggs []Aggregate) int {
	if n.GetFuncCall() == nil {
		return -1
	}
	for i, a := range aggs {
		if a.Func == "count" && a.Target < len(targets) && sameExpr(n, targets[a.Target].GetResTarget().GetVal()) {
			return i
		}
	}
	return -1
}

// onlyGroupColumns: every column n reads is a GROUP BY item, written the
// same (a column of the group's rows reads the same in each).
func onlyGroupColumns(n *pg_query.Node, groups []*pg_query.Node) bool {
	ok := true
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if ref, isRef := m.Interface().(*pg_query.ColumnRef); isRef {
			found := false
			for _, g := range groups {
				if gr := g.GetColumnRef(); gr != nil && refNames(gr) == refNames(ref) {
					found = true
				}
			}
			ok = ok && found
		}
	})
	return ok
}

// addHaving lays out a HAVING's hidden columns: its constants and its
// plaintext leaves' truths; HavingHidden lists them, and the tree's
// leaves index that list.
func (sp *SortPlan) addHaving(b *boolCand) *BoolNode {
	switch b.op {
	case BoolCount, BoolPlain:
		sp.havingLeaves = append(sp.havingLeaves, b)
		sp.hidden = append(sp.hidden, hiddenColumn{kind: hiddenHaving, from: len(sp.havingLeaves) - 1})
		sp.HavingHidden = append(sp.HavingHidden, len(sp.hidden)-1)
		return &BoolNode{Op: b.op, Index: len(sp.HavingHidden) - 1, Agg: b.agg, Cmp: b.cmp}
	}
	if b.op == BoolFilter {
		return sp.addHavingFilter(b) // planner_having_minmax.go
	}
	out := &BoolNode{Op: b.op}
	for _, a := range b.args {
		out.Args = append(out.Args, sp.addHaving(a))
	}
	return out
}

// planHaving adds a grouped statement's HAVING to its plan.
func (p *planner) planHaving(s *pg_query.SelectStmt, sc *scope, sp *SortPlan, aggs []Aggregate) {
	h := s.GetHavingClause()
	if h == nil {
		return
	}
	groups, _ := groupItems(s, sc)
	tree, ok := p.havingTree(h, sc, s.GetTargetList(), aggs, groups, nil)
	if !ok { // groupShape took only a HAVING havingTree reads
		p.refuse(firstColumn(sc), "a HAVING phiguard cannot evaluate")
		return
	}
	p.planPlainLeaves(tree, sc)        // planner_filter_tree.go
	if !p.planHavingFilters(s, tree) { // planner_having_minmax.go
		return
	}
	sp.Having = sp.addHaving(tree)
	sp.addHavingShadow()
}
