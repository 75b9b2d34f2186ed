package sqlrewrite

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/proto"
)

// HAVING over min(col) and max(col) (issue 13, docs/search.md "HAVING").
// A leaf of a HAVING phiguard evaluates (planner_having.go) may compare
// min or max of an encrypted column, written as a select-list entry
// phiguard computes is, with constants, by any comparison a WHERE takes
// (planner_filter.go: =, <>, ranges, BETWEEN, IS [NOT] DISTINCT FROM,
// LIKE, ILIKE, lower() or upper() around the aggregate or the
// constant), or IS [NOT] NULL (read as IS [NOT] DISTINCT FROM NULL). min and max return the column's type (text for varchar)
// under the column's collation, so the leaf is read as a filter on the
// column with the aggregate in its place: the same constants, types,
// collation and case mapping as a WHERE's comparison, and = and <> on a
// deterministic column too (the database never sees the HAVING). The
// Filter is marked Having: the proxy evaluates it on each group's min
// or max, not on rows (guard/protect_having.go), and its constants never
// reach the database (the HAVING is cut from the text; a parameter is
// sent as NULL, as a WHERE's). A group whose values are all NULL has a
// NULL min and max, which makes the comparison NULL (IS DISTINCT FROM
// excepted), as in PostgreSQL.

// havingMinMax reads a HAVING leaf comparing min or max of a select-list
// entry phiguard computes with constants.
func (p *planner) havingMinMax(n *pg_query.Node, sc *scope, targets []*pg_query.Node, aggs []Aggregate, path []boolStep) (*boolCand, bool) {
	c := proto.Clone(n).(*pg_query.Node)
	if nt := c.GetNullTest(); nt != nil { // max(x) IS NULL: IS NOT DISTINCT FROM NULL
		kind := pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT
		if nt.GetNulltesttype() == pg_query.NullTestType_IS_NOT_NULL {
			kind = pg_query.A_Expr_Kind_AEXPR_DISTINCT
		}
		c = &pg_query.Node{Node: &pg_query.Node_AExpr{AExpr: &pg_query.A_Expr{Kind: kind, Lexpr: nt.GetArg(),
			Rexpr: &pg_query.Node{Node: &pg_query.Node_AConst{AConst: &pg_query.A_Const{Isnull: true}}},
			Name:  []*pg_query.Node{{Node: &pg_query.Node_String_{String_: &pg_query.String{Sval: "="}}}}}}}
	}
	if c.GetAExpr() == nil {
		return nil, false
	}
	e, agg := c.GetAExpr(), -1
	for _, side := range []**pg_query.Node{&e.Lexpr, &e.Rexpr} {
		at := side
		if fold, _ := foldOf(*side); fold != FoldNone { // lower(max(name))
			at = &(*side).GetFuncCall().Args[0]
		}
		a := minMaxOf(*at, targets, aggs)
		if a < 0 {
			continue
		}
		if agg >= 0 {
			return nil, false // two aggregates compared
		}
		agg, *at = a, (*at).GetFuncCall().GetArgs()[0]
	}
	if agg < 0 {
		return nil, false
	}
	p.having = true
	f, ok := p.filterOf(c, sc)
	p.having = false
	if !ok || f.col != aggs[agg].Column {
		return nil, false
	}
	f.node, f.conjunct = n, -1 // the client's, for its parameters
	return &boolCand{op: BoolFilter, conjunct: -1, path: path, agg: agg, having: &f}, true
}

// minMaxOf is the index in aggs of the min or max of an encrypted column
// n is written as, or -1.
func minMaxOf(n *pg_query.Node, targets []*pg_query.Node, aggs []Aggregate) int {
	if n.GetFuncCall() == nil {
		return -1
	}
	for i, a := range aggs {
		if a.Func != "count" && a.Column != nil && a.Target < len(targets) && sameExpr(n, targets[a.Target].GetResTarget().GetVal()) {
			return i
		}
	}
	return -1
}

// havingFilterCands lists the tree's min and max comparisons.
func havingFilterCands(b *boolCand, out []filterCand) []filterCand {
	if b.op == BoolFilter && b.having != nil {
		return append(out, *b.having)
	}
	for _, a := range b.args {
		out = havingFilterCands(a, out)
	}
	return out
}

// planHavingFilters checks the HAVING's min and max comparisons: a
// parameter of one must be needed nowhere else (the database gets NULL
// in its place), and there are at most maxTreeFilters. It returns false
// when it refused the statement.
func (p *planner) planHavingFilters(s *pg_query.SelectStmt, tree *boolCand) bool {
	cands := havingFilterCands(tree, nil)
	if len(cands) > maxTreeFilters {
		p.refuse(cands[0].col, fmt.Sprintf("a HAVING with more than %d comparisons of min() or max() phiguard evaluates", maxTreeFilters))
		return false
	}
	for _, f := range cands {
		if sharedParams(s, f, cands) {
			p.refuse(f.col, "a HAVING on min() or max() whose parameter is also used elsewhere in the statement")
			return false
		}
	}
	return true
}

// addHavingFilter lays out a min or max comparison as a Filter marked
// Having: no column of its own (the aggregate's argument is already in
// the select list), the probes a WHERE's comparison has (the column's
// collation, LIKE's encoding, the case mappings').
func (sp *SortPlan) addHavingFilter(b *boolCand) *BoolNode {
	add := func(h hiddenColumn) int {
		sp.hidden = append(sp.hidden, h)
		return len(sp.hidden) - 1
	}
	c := b.having
	f := Filter{Column: c.col, Op: c.op, Value: -1, Collation: -1, Encoding: -1, Args: [2]FilterArg{c.args[0], c.args[1]},
		Escape: c.args[2], HasEscape: c.escape, ColumnFold: c.fold, Having: true}
	if !c.op.Between() {
		f.Args[1] = FilterArg{Literal: -1}
	}
	if c.op.Like() {
		f.Encoding = add(hiddenColumn{kind: hiddenEncoding})
	}
	if textType(c.col.Type) {
		f.Collation = add(hiddenColumn{kind: hiddenCollation, col: c.col})
	}
	f.addFoldProbes(*c, add)
	sp.Filters = append(sp.Filters, f)
	return &BoolNode{Op: BoolFilter, Index: len(sp.Filters) - 1, Agg: b.agg}
}

// addHavingShadow adds the probe of operators that could shadow those
// the HAVING's comparisons use (planner_shadow.go), as a WHERE's.
func (sp *SortPlan) addHavingShadow() {
	var cols []*policy.ProtectedColumn
	var args []FilterArg
	for _, f := range sp.Filters {
		if f.Having {
			cols = append(cols, f.Column)
			args = append(args, f.Args[0], f.Args[1], f.Escape)
		}
	}
	sp.addShadowProbe(cols, false, "HAVING", nil, args)
}

// whereFilters: the plan has filters of the WHERE (not only a HAVING's).
func (sp *SortPlan) whereFilters() bool {
	for _, f := range sp.Filters {
		if !f.Having {
			return true
		}
	}
	return false
}
