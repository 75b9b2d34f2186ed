package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// PostgreSQL computes a SELECT's select list only for the rows its WHERE
// keeps. A statement whose WHERE phiguard evaluates (planner_filter.go)
// reaches the database without those conjuncts, so the database computes
// its select list for every row they would drop too: an expression that
// fails on such a row (1/x with x = 0, a cast of a bad value) fails the
// statement, and one with side effects (nextval, any function) acts on
// it — a different answer. Such a statement is refused: with a proxy-side
// WHERE, the select list holds column references, * and constants only.
// So do its ORDER BY keys, which phiguard's hidden rank column has the
// database compute for every row as well (sort_rewrite.go).

// selectListComputation names the first entry of s's select list that
// is neither a column reference (or *) nor a constant; "" when there is
// none.
func selectListComputation(s *pg_query.SelectStmt) string {
	for _, t := range s.GetTargetList() {
		v := t.GetResTarget().GetVal()
		if v.GetColumnRef() != nil || filterConst(v) {
			continue
		}
		return computationName(v)
	}
	return ""
}

// computationName is how a refusal names an expression.
func computationName(n *pg_query.Node) string {
	switch {
	case n.GetFuncCall() != nil:
		return "function " + funcNameOf(n.GetFuncCall().GetFuncname()) + "()"
	case n.GetAExpr() != nil && len(n.GetAExpr().GetName()) > 0:
		return "operator " + funcNameOf(n.GetAExpr().GetName())
	case n.GetTypeCast() != nil:
		return "a cast"
	case n.GetSubLink() != nil:
		return "a subquery"
	case n.GetCaseExpr() != nil:
		return "CASE"
	}
	return "an expression (" + string(nodeName(n)) + ")"
}

// refuseComputedSelectList refuses a statement with proxy-side WHERE
// conjuncts (cands) whose select list computes something.
func (p *planner) refuseComputedSelectList(s *pg_query.SelectStmt, cands []filterCand) {
	if len(cands) == 0 {
		return
	}
	if what := selectListComputation(s); what != "" {
		p.refuse(cands[0].col, "a WHERE phiguard evaluates beside a select list computing "+what+
			" (the database would compute it also for the rows that WHERE drops: select columns and constants only)")
	}
	for _, n := range s.GetSortClause() {
		if k := n.GetSortBy().GetNode(); k != nil && k.GetColumnRef() == nil && !filterConst(k) {
			p.refuse(cands[0].col, "a WHERE phiguard evaluates beside an ORDER BY computing "+computationName(k)+
				" (the database would compute it also for the rows that WHERE drops: order by columns, output names or positions)")
		}
	}
}
