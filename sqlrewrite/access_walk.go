package sqlrewrite

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// accessWalker applies one role's rules to one parsed text. It walks every
// query level with its scope, injects row rules into the tree in place,
// and stops at the first refusal (by panicking with accessAbort, which
// rewriteAccess recovers: a refusal can come from deep inside an
// expression, and nothing after it matters).
type accessWalker struct {
	pol        *policy.Policy
	role       *policy.Role
	objs       Objects
	breakGlass bool
	acc        *Access
	changed    bool
	text       *accessText // the client's text and the edits of it
	// touched is set once a row rule or a restricted column is met, for
	// the refusal of EXPLAIN on them.
	touched bool
	// bound says which relation names of the statement name a WITH
	// query (bind_relations.go), and cteRels what each WITH query walked
	// so far exposes.
	bound   relationBinding
	cteRels map[*pg_query.CommonTableExpr]*accessRel
}

type accessAbort struct{}

// outMode is where a query level's rows go, which decides whether a
// restricted column may be one of its outputs.
type outMode uint8

const (
	// outClient: the rows go to the client, with each column's origin in
	// RowDescription, so the proxy can apply the column rule.
	outClient outMode = iota
	// outDerived: a FROM subquery or CTE; a restricted output is passed to
	// the level that reads it, where the same question is asked again.
	outDerived
	// outUsed: the rows are used, not shown (a sublink, a set operation
	// branch, an INSERT source, COPY out, CREATE TABLE AS): a restricted
	// column would escape its rule.
	outUsed
)

// accessOutput is one output column of a query level.
type accessOutput struct {
	name string
	rule *policy.ColumnRule // nil when the role sees it as it is
	// unknown marks an output of a * whose position is not known (an
	// item whose columns phiguard does not know came before it, or is
	// it): neither is any later output's.
	unknown bool
}

func (w *accessWalker) refuse(r *Refusal) {
	if r.Code == "" {
		r.Code = pgerr.InsufficientPrivilege
	}
	w.acc.Refusal = r
	w.acc.Decisions = append(w.acc.Decisions, Decision{Table: r.Table, Rule: r.Rule, Effect: "refused"})
	panic(accessAbort{})
}

// refuseColumn refuses a use of a restricted column.
func (w *accessWalker) refuseColumn(rule *policy.ColumnRule, how string) {
	col := rule.Table.String() + "." + policy.QuoteIdentifier(rule.Column)
	var msg string
	if rule.Action == policy.ActionDeny {
		msg = fmt.Sprintf("permission denied for column %s: role %s may not read it (rule %q)", col, w.role.Name, rule.Name)
	} else {
		msg = fmt.Sprintf("column %s is %s for role %s (rule %q): it may only be selected as it is, not used %s", col, rule.Action, w.role.Name, rule.Name, how)
	}
	w.refuse(&Refusal{Table: rule.Table.String(), Rule: rule.Name, Message: msg})
}

func (w *accessWalker) refuseConstruct(rule, table, format string, args ...any) {
	w.refuse(&Refusal{Table: table, Rule: rule, Message: fmt.Sprintf(format, args...) + fmt.Sprintf(" (role %s, rule %q)", w.role.Name, rule)})
}

func (w *accessWalker) stmtRule() string { return w.role.Name + ": statements" }

// selectQuery walks one SELECT (or VALUES, or set operation) and returns
// its outputs.
func (w *accessWalker) selectQuery(n *pg_query.Node, parent *accessScope, mode outMode) []accessOutput {
	sel := n.GetSelectStmt()
	if sel == nil {
		w.refuseConstruct(w.stmtRule(), "", "phiguard cannot analyse a %s here", nodeName(n))
	}
	return w.selectStmt(sel, parent, mode)
}

func (w *accessWalker) selectStmt(sel *pg_query.SelectStmt, parent *accessScope, mode outMode) []accessOutput {
	sc := newAccessScope(parent)
	if sel.GetWithClause() != nil {
		w.with(sel.GetWithClause(), sc)
	}
	if sel.GetOp() != pg_query.SetOperation_SET_OPERATION_UNDEFINED && sel.GetOp() != pg_query.SetOperation_SETOP_NONE {
		// A set operation's output columns have no origin: a restricted
		// column in any branch would reach the client unruled.
		outs := w.selectStmt(sel.GetLarg(), sc, outUsed)
		w.selectStmt(sel.GetRarg(), sc, outUsed)
		w.exprs(sel.GetSortClause(), sc)
		w.expr(sel.GetLimitOffset(), sc)
		w.expr(sel.GetLimitCount(), sc)
		for i := range outs { // the first branch's names, no origin
			outs[i].rule = nil
		}
		return outs
	}
	for _, item := range sel.GetFromClause() {
		w.fromItem(item, sc)
	}
	for _, row := range sel.GetValuesLists() {
		w.expr(row, sc)
	}
	outs := w.targets(sel.GetTargetList(), sc, mode)
	if rows := sel.GetValuesLists(); len(rows) > 0 {
		for i := range rows[0].GetList().GetItems() {
			outs = append(outs, accessOutput{name: fmt.Sprintf("column%d", i+1)})
		}
	}
	w.expr(sel.GetWhereClause(), sc)
	w.outputExprs(sel.GetGroupClause(), sc, outs, "in GROUP BY")
	w.expr(sel.GetHavingClause(), sc)
	w.exprs(sel.GetWindowClause(), sc)
	w.outputExprs(sel.GetSortClause(), sc, outs, "in ORDER BY")
	if len(sel.GetDistinctClause()) > 0 {
		for _, o := range outs {
			if o.rule != nil {
				w.refuseColumn(o.rule, "with DISTINCT")
			}
		}
		w.outputExprs(sel.GetDistinctClause(), sc, outs, "in DISTINCT ON")
	}
	w.expr(sel.GetLimitOffset(), sc)
	w.expr(sel.GetLimitCount(), sc)
	w.pushDown(sel.GetWhereClause(), sc)
	return outs
}

// targets walks a target list (SELECT list or RETURNING). A bare column
// reference is an output; anything else uses the columns it reads.
func (w *accessWalker) targets(list []*pg_query.Node, sc *accessScope, mode outMode) []accessOutput {
	var outs []accessOutput
	for _, t := range list {
		rt := t.GetResTarget()
		if rt == nil {
			w.expr(t, sc)
			continue
		}
		ref := rt.GetVal().GetColumnRef()
		if ref == nil || len(rt.GetIndirection()) > 0 {
			w.expr(rt.GetVal(), sc)
			// (v).* adds the fields of v, how many is not followed; an
			// expression is named as the planner names it (outputName).
			name, known := outputName(rt)
			if !known {
				name = ""
			}
			outs = append(outs, accessOutput{name: name, unknown: fieldStar(rt.GetVal())})
			continue
		}
		cr := w.resolve(ref, sc)
		if len(cr.rules) > 0 {
			w.touched = true
		}
		switch {
		case cr.wholeRow:
			w.refuseColumn(cr.rules[0], "inside a whole-row value")
		case cr.star:
			for _, r := range cr.rules {
				w.outputRule(r, mode)
			}
			outs = append(outs, cr.outs...)
		default:
			name := rt.GetName()
			if name == "" {
				name = lastField(ref)
			}
			var rule *policy.ColumnRule
			if len(cr.rules) == 1 {
				rule = cr.rules[0]
				w.outputRule(rule, mode)
			}
			outs = append(outs, accessOutput{name: name, rule: rule})
		}
	}
	return outs
}

// outputRule checks that a restricted column may be an output here.
func (w *accessWalker) outputRule(r *policy.ColumnRule, mode outMode) {
	switch {
	case r.Action == policy.ActionDeny:
		w.refuseColumn(r, "")
	case mode == outUsed:
		w.refuseColumn(r, "where its rule cannot follow it (a subquery expression, set operation, INSERT source, COPY or new table)")
	}
	w.acc.Decisions = append(w.acc.Decisions, Decision{Table: r.Table.String(), Column: r.Column, Rule: r.Name, Effect: string(r.Action)})
}

// outputExprs walks ORDER BY, GROUP BY and DISTINCT ON items, which may
// name an output by its alias or position.
func (w *accessWalker) outputExprs(list []*pg_query.Node, sc *accessScope, outs []accessOutput, how string) {
	for _, item := range groupingItems(list) {
		n := item
		if sb := item.GetSortBy(); sb != nil {
			n = sb.GetNode()
			w.exprs(sb.GetUseOp(), sc)
		}
		if c := n.GetAConst(); c != nil && c.GetIval() != nil {
			if rule := outputAt(outs, int(c.GetIval().GetIval())); rule != nil {
				w.refuseColumn(rule, how)
			}
		}
		if ref := n.GetColumnRef(); ref != nil && len(ref.GetFields()) == 1 {
			for _, o := range outs {
				if o.rule != nil && o.name == lastField(ref) {
					w.refuseColumn(o.rule, how)
				}
			}
		}
		w.exprCtx(n, sc, how)
	}
}

// groupingItems flattens ROLLUP, CUBE and GROUPING SETS into the items
// they group by: a position or an output alias inside one means the same
// as at the top of GROUP BY (a row of items, (1, b), is a list of them).
func groupingItems(list []*pg_query.Node) []*pg_query.Node {
	var out []*pg_query.Node
	for _, n := range list {
		gs := n.GetGroupingSet()
		if gs == nil {
			out = append(out, n)
			continue
		}
		for _, c := range gs.GetContent() {
			if row := c.GetRowExpr(); row != nil {
				out = append(out, groupingItems(row.GetArgs())...)
				continue
			}
			out = append(out, groupingItems([]*pg_query.Node{c})...)
		}
	}
	return out
}

// with walks a WITH clause, binding each CTE name in sc for the rest of
// the statement (and, when recursive, for the CTEs themselves).
func (w *accessWalker) with(wc *pg_query.WithClause, sc *accessScope) {
	for _, c := range wc.GetCtes() {
		cte := c.GetCommonTableExpr()
		if cte == nil {
			w.refuseConstruct(w.stmtRule(), "", "phiguard cannot analyse this WITH clause")
		}
		if wc.GetRecursive() {
			w.cteRels[cte] = &accessRel{name: cte.GetCtename(), restricted: map[string]*policy.ColumnRule{}}
		}
		q := cte.GetCtequery()
		var outs []accessOutput
		if q.GetSelectStmt() != nil {
			outs = w.selectQuery(q, sc, outDerived)
		} else {
			// A data-modifying CTE: its RETURNING rows feed the statement
			// (restricted ones are refused there); their number is not
			// followed.
			w.statementNode(q, sc, outDerived)
			outs = []accessOutput{{unknown: true}}
		}
		w.cteRels[cte] = derivedRel(cte.GetCtename(), cte.GetAliascolnames(), outs, w)
	}
}

// fromItem walks one FROM item, adding what it exposes to sc and
// injecting row rules into base tables.
func (w *accessWalker) fromItem(item *pg_query.Node, sc *accessScope) {
	switch {
	case item.GetRangeVar() != nil:
		sc.add(w.rangeVar(item, sc))
	case item.GetJoinExpr() != nil:
		w.join(item.GetJoinExpr(), sc)
	case item.GetRangeSubselect() != nil:
		rs := item.GetRangeSubselect()
		outs := w.selectQuery(rs.GetSubquery(), lateralScope(sc, rs.GetLateral()), outDerived)
		name := ""
		var cols []*pg_query.Node
		if a := rs.GetAlias(); a != nil {
			name, cols = a.GetAliasname(), a.GetColnames()
		}
		sc.add(derivedRel(name, cols, outs, w))
	case item.GetRangeFunction() != nil:
		rf := item.GetRangeFunction()
		w.exprs(rf.GetFunctions(), sc) // LATERAL, written or not
		sc.add(functionRel(rf))        // access_columns.go
	case item.GetRangeTableSample() != nil:
		ts := item.GetRangeTableSample()
		rv := ts.GetRelation().GetRangeVar()
		if rv == nil {
			w.refuseConstruct(w.stmtRule(), "", "phiguard cannot analyse this TABLESAMPLE")
		}
		if rule := w.rowRule(rv.GetSchemaname(), rv.GetRelname()); rule != nil && !w.breakGlass {
			w.refuseConstruct(rule.Name, tableString(rv), "TABLESAMPLE on table %s, which has a row rule, is not supported", tableString(rv))
		}
		sc.add(w.rangeVar(ts.GetRelation(), sc))
		w.exprs(ts.GetArgs(), sc)
		w.expr(ts.GetRepeatable(), sc)
	case item.GetRangeTableFunc() != nil:
		tf := item.GetRangeTableFunc()
		w.expr(tf.GetDocexpr(), sc) // LATERAL, written or not
		w.expr(tf.GetRowexpr(), sc)
		w.exprs(tf.GetNamespaces(), sc)
		w.exprs(tf.GetColumns(), sc)
		name := ""
		if a := tf.GetAlias(); a != nil {
			name = a.GetAliasname()
		}
		sc.add(&accessRel{name: name, restricted: map[string]*policy.ColumnRule{}})
	default:
		w.refuseConstruct(w.stmtRule(), "", "phiguard cannot analyse a %s in FROM", nodeName(item))
	}
}

// rangeVar handles a table named in FROM: a CTE, or a base table that must
// be a plain table, whose row rule (if any) is injected in place.
func (w *accessWalker) rangeVar(item *pg_query.Node, sc *accessScope) *accessRel {
	rv := item.GetRangeVar()
	alias := rv.GetRelname()
	if a := rv.GetAlias(); a != nil {
		alias = a.GetAliasname()
	}
	if cte := w.bound.cte(rv); cte != nil {
		c := w.cteRels[cte]
		if c == nil {
			w.refuseConstruct(w.stmtRule(), "", "phiguard cannot analyse WITH query %s where it is named", cte.GetCtename())
		}
		r := *c
		r.name = alias
		w.renameColumns(&r, rv.GetAlias())
		return &r
	}
	rel := w.baseRel(rv)
	rel.name = alias
	w.renameColumns(rel, rv.GetAlias())
	if rule := w.rowRule(rel.schema, rel.relname); rule != nil && !w.breakGlass {
		rel.inj = w.injectRowRule(item, rv, rule)
	}
	return rel
}

// baseRel checks that a named relation is a table the rules can follow
// and returns its FROM item (without a name).
func (w *accessWalker) baseRel(rv *pg_query.RangeVar) *accessRel {
	if rv.GetCatalogname() != "" {
		w.refuseConstruct(w.stmtRule(), tableString(rv), "a database-qualified name (%s) is not supported", tableString(rv))
	}
	w.statisticsRelation(rv)
	schema, name := rv.GetSchemaname(), rv.GetRelname()
	switch w.objs.RelationKind(schema, name) {
	case RelationTable:
	case RelationOther:
		w.refuseConstruct(w.stmtRule(), tableString(rv), "relation %s is a view, materialized view, foreign table, partition, inheritance child or other relation phiguard cannot see through (a rule on the table behind it would not apply), so the role may not read it", tableString(rv))
	default:
		w.refuseConstruct(w.stmtRule(), tableString(rv), "relation %s is unknown to phiguard", tableString(rv))
	}
	restricted := w.restrictedColumns(schema, name)
	if len(restricted) > 0 {
		w.touched = true
	}
	order, known := w.objs.Columns(schema, name) // unknown: a * and renaming over it are not positioned
	w.refuseIfNoColumnReadable(tableString(rv), order, restricted)
	rel := &accessRel{base: true, schema: schema, relname: name, restricted: restricted, known: known}
	for _, c := range order {
		rel.columns = append(rel.columns, accessOutput{name: c, rule: restricted[c]})
	}
	for c := range restricted {
		if !contains(order, c) {
			rel.known = false // a rule of a column the table is not known to have
		}
	}
	return rel
}

// refuseIfNoColumnReadable refuses a table every column of which the role
// is denied: as with PostgreSQL's column privileges, a role that may read
// no column of a table may not learn its rows' number or existence either
// (count(*), EXISTS).
func (w *accessWalker) refuseIfNoColumnReadable(table string, columns []string, restricted map[string]*policy.ColumnRule) {
	if len(columns) == 0 {
		return
	}
	for _, c := range columns {
		if r := restricted[c]; r == nil || r.Action != policy.ActionDeny {
			return
		}
	}
	rule := restricted[columns[0]]
	w.refuseConstruct(rule.Name, table, "role %s may read no column of table %s, so it may not read the table at all", w.role.Name, table)
}

func tableString(rv *pg_query.RangeVar) string {
	if rv.GetSchemaname() == "" {
		return policy.QuoteIdentifier(rv.GetRelname())
	}
	return policy.QuoteIdentifier(rv.GetSchemaname()) + "." + policy.QuoteIdentifier(rv.GetRelname())
}

func lastField(ref *pg_query.ColumnRef) string {
	f := ref.GetFields()
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1].GetString_().GetSval()
}

func (w *accessWalker) exprs(list []*pg_query.Node, sc *accessScope) {
	for _, n := range list {
		w.expr(n, sc)
	}
}

func (w *accessWalker) expr(n *pg_query.Node, sc *accessScope) { w.exprCtx(n, sc, "in an expression") }

// exprCtx walks an expression: every column it reads is used (so no
// restricted column may appear), every function and operator must be
// allowed, and every subquery is a query level of its own.
func (w *accessWalker) exprCtx(n *pg_query.Node, sc *accessScope, how string) {
	if n == nil || n.GetNode() == nil {
		return
	}
	switch {
	case n.GetColumnRef() != nil:
		cr := w.resolve(n.GetColumnRef(), sc)
		if len(cr.rules) > 0 {
			w.touched = true
			if cr.wholeRow || cr.star {
				w.refuseColumn(cr.rules[0], "inside a whole-row value")
			}
			w.refuseColumn(cr.rules[0], how)
		}
		return
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		w.exprCtx(sl.GetTestexpr(), sc, how)
		w.operatorName(sl.GetOperName())
		w.selectQuery(sl.GetSubselect(), sc, outUsed)
		return
	case n.GetFuncCall() != nil:
		w.function(n.GetFuncCall().GetFuncname())
	case n.GetAExpr() != nil:
		w.exprOperators(n.GetAExpr())
	case n.GetRangeVar() != nil, n.GetSelectStmt() != nil, n.GetInsertStmt() != nil,
		n.GetUpdateStmt() != nil, n.GetDeleteStmt() != nil:
		w.refuseConstruct(w.stmtRule(), "", "phiguard cannot analyse a %s inside an expression", nodeName(n))
	}
	w.children(n, sc, how)
}

// exprOperators checks the operators an A_Expr applies. BETWEEN's "name"
// is its keyword; PostgreSQL compares with the ordering operators.
func (w *accessWalker) exprOperators(e *pg_query.A_Expr) {
	switch e.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		for _, op := range []string{"<", "<=", ">", ">="} {
			w.operatorName([]*pg_query.Node{pg_query.MakeStrNode(op)})
		}
	default:
		w.operatorName(e.GetName())
	}
}

// children walks every node below n by reflection, so that no column,
// function or subquery can hide in a node type this walker does not name.
func (w *accessWalker) children(n *pg_query.Node, sc *accessScope, how string) {
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd == nil || fd.Message() == nil {
		return
	}
	w.childrenOf(m.Get(fd).Message(), sc, how)
}

func (w *accessWalker) childrenOf(m protoreflect.Message, sc *accessScope, how string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		visit := func(child protoreflect.Message) {
			if node, ok := child.Interface().(*pg_query.Node); ok {
				w.exprCtx(node, sc, how)
				return
			}
			if _, ok := child.Interface().(*pg_query.RangeVar); ok {
				w.refuseConstruct(w.stmtRule(), "", "phiguard cannot analyse a table reference inside an expression")
			}
			w.childrenOf(child, sc, how)
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i).Message())
			}
			return true
		}
		visit(v.Message())
		return true
	})
}
