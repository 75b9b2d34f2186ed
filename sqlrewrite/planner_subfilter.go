package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Proxy-side WHERE inside a subquery (issue 13, docs/search.md). A
// top-level conjunct `X IN (SELECT b.k FROM R b WHERE inner)` (or
// `X = ANY (SELECT ...)`) or `EXISTS (SELECT ... FROM R b WHERE inner)`
// whose inner conjuncts hold filters on encrypted columns of the
// subquery's own relations is sent with those filters replaced by true
// (a superset: the database still narrows by everything else), and with
// one hidden column, the column's cells of the inner rows that the
// conjunct would test for this row (with filters on several columns, a
// row of their cells per inner row: planner_subfilter_cells.go):
//
//	ARRAY(SELECT b.enc FROM R b WHERE (inner') AND (X) = (b.k))  -- IN
//	ARRAY(SELECT b.enc FROM R b WHERE (inner'))                  -- EXISTS
//
// X = ANY (sub) is true exactly when some inner row r has inner(r) true
// and X = r.k true, and EXISTS when some inner row has inner(r) true; the
// database decides all but the filters (the same `=` the IN resolves,
// in the same snapshot), and the proxy keeps the row when some cell of
// the array passes every filter of the group (guard/protect_subfilter.go).
// A NULL X or k never matches (X = k is NULL, which no WHERE keeps); a
// NULL cell is evaluated as NULL, as PostgreSQL evaluates the filter.
//
// NOT EXISTS (sub) is true when no row of sub passes its WHERE, and
// X NOT IN (sub) when X = k is false for every such row: the conjunct is
// replaced by true (the subquery's superset would narrow the rows
// wrongly), the array holds the cells of the rows whose X = k is not
// false for NOT IN (true or NULL: either makes NOT IN not true), and the
// proxy keeps the row when no cell passes every filter.

// subGroup is one such conjunct.
type subGroup struct {
	exists    bool
	negated   bool // NOT IN, NOT EXISTS
	conjunct  int  // index among the outer WHERE's top-level conjuncts
	conjuncts int  // how many conjuncts the subquery's WHERE has
	probes    int  // how many lack probes go first in it (scope_probe.go)
	labelled  bool // the subquery's select-list entry is named (AS k)
	cands     []filterCand
	// cells is, per cand, the cell of the array's row it tests: each
	// encrypted column (as written) the filters compare is one cell
	// (planner_subfilter_cells.go); width is how many there are.
	cells []int
	width int
}

// subqueryFilters plans a top-level conjunct (the i-th) that is IN, = ANY
// or EXISTS over a subquery, or their negation, as the expression planner
// would (its left operand, then the subquery); when the subquery's WHERE
// compares an encrypted column of its own FROM with constants, it takes
// those comparisons as filters, or refuses the shapes around them that it
// does not evaluate. It returns false for any other conjunct.
func (p *planner) subqueryFilters(n *pg_query.Node, sc *scope, i int) ([]filterCand, bool) {
	sl, negated := n.GetSubLink(), false
	if b := n.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_NOT_EXPR && len(b.GetArgs()) == 1 {
		sl, negated = b.GetArgs()[0].GetSubLink(), true
	}
	sub := sl.GetSubselect().GetSelectStmt()
	kind := sl.GetSubLinkType()
	if sl == nil || sub == nil || sub.GetOp() != pg_query.SetOperation_SETOP_NONE || len(sub.GetValuesLists()) > 0 ||
		kind != pg_query.SubLinkType_ANY_SUBLINK && kind != pg_query.SubLinkType_ALL_SUBLINK && kind != pg_query.SubLinkType_EXISTS_SUBLINK {
		return nil, false
	}
	aggregating := p.aggregating
	defer func() { p.aggregating = aggregating }() // a FROM subquery's planning resets it
	p.expr(sl.GetTestexpr(), sc, ctxOther("a comparison with a subquery"))
	inner := p.newScope(sc)
	p.with(sub.GetWithClause(), inner)
	for _, item := range sub.GetFromClause() {
		p.fromItem(item, inner, sc)
	}
	r := roleValue
	if kind == pg_query.SubLinkType_EXISTS_SUBLINK {
		r = roleExists
	}
	local := &scope{relations: inner.relations, checks: inner.checks, home: inner} // the subquery's own FROM only
	col := p.subqueryFilterColumn(sub, local)
	if col == nil {
		inner.sel = sub                    // a probe's place (scope_probe.go)
		p.selectBody(sub, inner, r, false) // planner.go: as before
		return nil, true
	}
	construct := subLinkConstruct(sl, negated)
	why := subqueryShapeProblem(sl, sub)
	switch {
	case why == "" && aggregating:
		why = "beside aggregates or GROUP BY phiguard computes"
	case why == "" && r == roleValue:
		why = p.correlationProblem(sl.GetTestexpr(), sub, sc)
	}
	if why != "" {
		p.refuse(col, "a WHERE on it inside "+construct+" "+why)
		return nil, true
	}
	g := &subGroup{exists: r == roleExists, negated: negated, conjunct: i}
	inner.sel = sub // its probes go first in its WHERE, which the proxy's cut skips (sort_probe_skip.go)
	p.probeCounts = append(p.probeCounts, probeCount{sub, &g.probes})
	return p.planSubquery(sub, inner, local, r, g, construct), true
}

// planSubquery plans the rest of an accepted conjunct's subquery (its
// FROM is planned into inner) as selectBody would, but takes the filters
// of its WHERE.
func (p *planner) planSubquery(sub *pg_query.SelectStmt, inner, local *scope, r role, g *subGroup, construct string) []filterCand {
	outs := map[string]*policy.ProtectedColumn{}
	for _, t := range sub.GetTargetList() {
		p.target(t.GetResTarget(), inner, r, outs)
	}
	if !g.exists {
		g.labelled = sub.GetTargetList()[0].GetResTarget().GetName() != ""
	}
	conjuncts := whereConjunctList(sub.GetWhereClause())
	g.conjuncts = len(conjuncts)
	for j, c := range conjuncts {
		if f, ok := p.filterOf(c, local); ok {
			f.conjunct, f.node, f.group = j, c, g
			g.cands = append(g.cands, f)
			continue
		}
		p.expr(c, inner, ctxOther("WHERE"))
	}
	g.layCells(local) // planner_subfilter_cells.go
	// The database runs the subquery on the rows the filters would drop
	// too: its select list and FROM subqueries must compute nothing.
	p.refuseComputedSelectList(sub, g.cands) // planner_filter_select.go
	if fn := subqueryCall(sub, g); fn != "" && !g.negated {
		p.refuse(g.cands[0].col, "a WHERE on it inside "+construct+" beside the function "+fn+
			"() (the database evaluates the subquery twice, in the statement and in the array of cells phiguard reads: call only functions without side effects)")
		return nil
	} else if fn != "" && !g.exists {
		// NOT IN: the array's subquery is correlated by (X) = (k), so the
		// database runs it for every outer row where PostgreSQL may run
		// the client's, uncorrelated, once.
		p.refuse(g.cands[0].col, "a WHERE on it inside "+construct+" beside the function "+fn+
			"() (the database evaluates the subquery again for each row, in the array of cells phiguard reads: call only functions without side effects)")
		return nil
	}
	if !g.negated && unrepeatableSample(sub) {
		p.refuse(g.cands[0].col, "a WHERE on it inside "+construct+" beside TABLESAMPLE without REPEATABLE "+
			"(the database samples twice, in the statement and in the array of cells phiguard reads, and may pick other rows)")
		return nil
	}
	return g.cands
}

// unrepeatableSample says whether a TABLESAMPLE without REPEATABLE is
// anywhere in sub (its FROM, or a subquery of its WHERE): each
// evaluation samples anew, so the conjunct the database keeps and the
// hidden array would read different rows. With REPEATABLE the same seed
// picks the same rows of the same snapshot.
func unrepeatableSample(sub *pg_query.SelectStmt) bool {
	found := false
	walk(sub.ProtoReflect(), func(m protoreflect.Message) {
		if ts, ok := m.Interface().(*pg_query.RangeTableSample); ok && ts.GetRepeatable() == nil {
			found = true
		}
	})
	return found
}

// subqueryCall names the first function the subquery's FROM or its
// WHERE but the filters calls that is not one of sortSafeFunctions
// (planner_sort_calls.go); "" when there is none.
func subqueryCall(sub *pg_query.SelectStmt, g *subGroup) string {
	filter := map[int]bool{}
	for _, c := range g.cands {
		filter[c.conjunct] = true
	}
	probe := &pg_query.SelectStmt{}
	for j, c := range whereConjunctList(sub.GetWhereClause()) {
		if !filter[j] {
			probe.TargetList = append(probe.TargetList, c)
		}
	}
	for _, f := range sub.GetFromClause() {
		probe.TargetList = append(probe.TargetList, f)
	}
	return postponedCall(probe)
}

// subqueryFilterColumn is the encrypted column of the first filter
// phiguard could evaluate in sub's WHERE, on a relation of sub's own
// FROM (local), or nil.
func (p *planner) subqueryFilterColumn(sub *pg_query.SelectStmt, local *scope) *policy.ProtectedColumn {
	for _, c := range whereConjunctList(sub.GetWhereClause()) {
		if f, ok := p.filterOf(c, local); ok {
			return f.col
		}
	}
	return nil
}

// subqueryShapeProblem says why the conjunct is not one phiguard
// evaluates, or "".
func subqueryShapeProblem(sl *pg_query.SubLink, sub *pg_query.SelectStmt) string {
	switch {
	case sl.GetSubLinkType() == pg_query.SubLinkType_ANY_SUBLINK:
		if names := sl.GetOperName(); len(names) > 0 && funcNameOf(names) != "=" {
			return "(phiguard evaluates IN and = ANY only)"
		}
		if len(sub.GetTargetList()) != 1 || sl.GetTestexpr().GetRowExpr() != nil {
			return "comparing several columns"
		}
	case sl.GetSubLinkType() != pg_query.SubLinkType_EXISTS_SUBLINK:
		return "(phiguard evaluates IN, = ANY and EXISTS only)"
	}
	switch {
	case sub.GetOp() != pg_query.SetOperation_SETOP_NONE:
		return "with UNION, INTERSECT or EXCEPT"
	case sub.GetWithClause() != nil:
		return "with a WITH clause"
	case len(sub.GetGroupClause()) > 0, sub.GetHavingClause() != nil, hasAggregateCall(sub):
		return "with GROUP BY, HAVING or aggregates"
	case len(sub.GetDistinctClause()) > 0:
		return "with DISTINCT"
	case len(sub.GetWindowClause()) > 0, hasWindowCall(sub):
		return "with window functions"
	case sub.GetLimitCount() != nil, sub.GetLimitOffset() != nil:
		return "with LIMIT or OFFSET"
	case len(sub.GetSortClause()) > 0:
		return "with ORDER BY"
	case len(sub.GetLockingClause()) > 0, sub.GetIntoClause() != nil:
		return "with FOR UPDATE or INTO"
	case len(sub.GetFromClause()) == 0:
		return "without FROM"
	}
	return ""
}

// correlationProblem checks X of X IN (SELECT ...), which phiguard copies
// into the hidden column's subquery: each of its column references must
// be qualified with a name the subquery's FROM does not define (or it
// would bind inside), it must read no encrypted column, hold no subquery
// and call only functions without side effects.
func (p *planner) correlationProblem(x *pg_query.Node, sub *pg_query.SelectStmt, sc *scope) string {
	inner, known := fromNames(sub.GetFromClause())
	if !known {
		return "whose subquery's FROM holds an item phiguard cannot name (a table, a join, a subquery or a function)"
	}
	// The database evaluates X in the conjunct and again in the array,
	// once per inner row: a function with side effects or a volatile
	// one would run more often than PostgreSQL runs it, and draw other
	// values in the two places.
	if fn := postponedCall(&pg_query.SelectStmt{TargetList: []*pg_query.Node{x}}); fn != "" {
		return "whose left operand calls the function " + fn + "() (the database evaluates it in the statement and again for each row of the array of cells phiguard reads: call only functions without side effects)"
	}
	why := ""
	walk(x.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.SubLink, *pg_query.SelectStmt:
			why = "with a subquery left of IN"
		case *pg_query.ColumnRef:
			fields := n.GetFields()
			if len(fields) < 2 || fields[len(fields)-2].GetString_() == nil {
				why = "whose left operand names a column without its table (qualify it)"
			} else if inner[fields[len(fields)-2].GetString_().GetSval()] {
				why = "whose left operand is qualified with a name the subquery's FROM also defines"
			} else if kind, _ := sc.resolve(n); kind != refPlain {
				why = "whose left operand is an encrypted column"
			}
		}
	})
	return why
}

// fromNames is every name a FROM list defines for its column references
// (a table's, an alias of a table, a join or its USING, a subquery, a
// function or a TABLESAMPLE; a function's item adds the name of every function it calls,
// more than PostgreSQL defines); known is false for an item of another
// kind.
func fromNames(from []*pg_query.Node) (names map[string]bool, known bool) {
	names, known = map[string]bool{}, true
	alias := func(a *pg_query.Alias) {
		if a != nil {
			names[a.GetAliasname()] = true
		}
	}
	var item func(n *pg_query.Node)
	item = func(n *pg_query.Node) {
		switch {
		case n.GetJoinExpr() != nil:
			item(n.GetJoinExpr().GetLarg())
			item(n.GetJoinExpr().GetRarg())
			alias(n.GetJoinExpr().GetAlias())
			alias(n.GetJoinExpr().GetJoinUsingAlias()) // JOIN ... USING (c) AS j
		case n.GetRangeVar() != nil:
			names[n.GetRangeVar().GetRelname()] = true
			alias(n.GetRangeVar().GetAlias())
		case n.GetRangeSubselect() != nil: // (SELECT ...) o, LATERAL too
			alias(n.GetRangeSubselect().GetAlias())
		case n.GetRangeFunction() != nil: // unaliased, named after its function
			alias(n.GetRangeFunction().GetAlias())
			walk(n.GetRangeFunction().ProtoReflect(), func(m protoreflect.Message) {
				if fc, ok := m.Interface().(*pg_query.FuncCall); ok && len(fc.GetFuncname()) > 0 {
					names[fc.GetFuncname()[len(fc.GetFuncname())-1].GetString_().GetSval()] = true
				}
			})
		case n.GetRangeTableSample() != nil:
			item(n.GetRangeTableSample().GetRelation())
		default:
			known = false
		}
	}
	for _, n := range from {
		item(n)
	}
	return names, known
}

// subLinkConstruct names the conjunct for a refusal.
func subLinkConstruct(sl *pg_query.SubLink, negated bool) string {
	s := "IN (SELECT ...)"
	switch sl.GetSubLinkType() {
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		s = "EXISTS (SELECT ...)"
	case pg_query.SubLinkType_ANY_SUBLINK:
		if len(sl.GetOperName()) > 0 {
			s = funcNameOf(sl.GetOperName()) + " ANY (SELECT ...)"
		}
	case pg_query.SubLinkType_ALL_SUBLINK:
		s = funcNameOf(sl.GetOperName()) + " ALL (SELECT ...)"
	default:
		s = "a subquery"
	}
	if negated {
		s = "NOT " + s
	}
	return s
}

// whereConjunctList is a WHERE's top-level conjuncts.
func whereConjunctList(where *pg_query.Node) []*pg_query.Node {
	if where == nil {
		return nil
	}
	if b := where.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		return b.GetArgs()
	}
	return []*pg_query.Node{where}
}

// columnRefNames adds to seen the names of the encrypted column
// references of a filter conjunct, as written.
func columnRefNames(n *pg_query.Node, sc *scope, seen map[string]bool) map[string]bool {
	if seen == nil {
		seen = map[string]bool{}
	}
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if ref, ok := m.Interface().(*pg_query.ColumnRef); ok {
			if kind, _ := sc.resolve(ref); kind != refPlain {
				seen[refNames(ref)] = true
			}
		}
	})
	return seen
}
