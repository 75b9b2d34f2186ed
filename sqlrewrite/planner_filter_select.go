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
// database compute for every row as well (sort_rewrite.go), and the
// select lists of its FROM subqueries and WITH queries. (A view's are
// not seen: its definition is the database's.)

// selectListComputation names the first entry of s's select list that
// is neither a column reference (or *) nor a constant; "" when there is
// none.
func selectListComputation(s *pg_query.SelectStmt) string {
	for _, t := range s.GetTargetList() {
		v := t.GetResTarget().GetVal()
		if v.GetColumnRef() != nil || filterConst(v) || aggregateOfColumn(v) { // planner_aggregate.go
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
	if what := derivedComputation(s); what != "" {
		p.refuse(cands[0].col, "a WHERE phiguard evaluates over a FROM subquery or WITH query computing "+what+
			" (the database would compute it also for the rows that WHERE drops: select columns and constants only)")
	}
	for _, n := range s.GetSortClause() {
		k := n.GetSortBy().GetNode()
		if p.aggregating && len(s.GetGroupClause()) > 0 && aggregateOfColumn(k) {
			continue // an aggregate phiguard computes per group (planner_group.go)
		}
		if k != nil && k.GetColumnRef() == nil && !filterConst(k) {
			p.refuse(cands[0].col, "a WHERE phiguard evaluates beside an ORDER BY computing "+computationName(k)+
				" (the database would compute it also for the rows that WHERE drops: order by columns, output names or positions)")
		}
	}
}

// derivedComputation names the first computation in the select list of
// a subquery in s's FROM or a query of its WITH (or theirs, or a set
// operation's branches); "" when there is none. Their rows reach the
// outer WHERE, which PostgreSQL would push down into them.
func derivedComputation(s *pg_query.SelectStmt) string {
	if s == nil {
		return ""
	}
	for _, c := range s.GetWithClause().GetCtes() {
		if what := queryComputation(c.GetCommonTableExpr().GetCtequery().GetSelectStmt()); what != "" {
			return what
		}
	}
	for _, n := range s.GetFromClause() {
		if what := fromComputation(n); what != "" {
			return what
		}
	}
	return ""
}

// queryComputation is derivedComputation for a derived query, whose own
// select list counts too.
func queryComputation(s *pg_query.SelectStmt) string {
	if s == nil {
		return ""
	}
	if s.GetLarg() != nil || s.GetRarg() != nil {
		if what := queryComputation(s.GetLarg()); what != "" {
			return what
		}
		return queryComputation(s.GetRarg())
	}
	if what := selectListComputation(s); what != "" {
		return what
	}
	return derivedComputation(s)
}

func fromComputation(n *pg_query.Node) string {
	switch {
	case n.GetRangeSubselect() != nil:
		return queryComputation(n.GetRangeSubselect().GetSubquery().GetSelectStmt())
	case n.GetJoinExpr() != nil:
		if what := fromComputation(n.GetJoinExpr().GetLarg()); what != "" {
			return what
		}
		return fromComputation(n.GetJoinExpr().GetRarg())
	}
	return ""
}
