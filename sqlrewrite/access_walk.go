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
		w.selectStmt(sel.GetLarg(), sc, outUsed)
		w.selectStmt(sel.GetRarg(), sc, outUsed)
		w.exprs(sel.GetSortClause(), sc)
		w.expr(sel.GetLimitOffset(), sc)
		w.expr(sel.GetLimitCount(), sc)
		return nil
	}
	for _, item := range sel.GetFromClause() {
		w.fromItem(item, sc)
	}
	var quals []*pg_query.Node
	for _, item := range sel.GetFromClause() {
		quals = append(quals, joinQuals(item)...)
	}
	for _, q := range quals {
		w.expr(q, sc)
	}
	for _, row := range sel.GetValuesLists() {
		w.expr(row, sc)
	}
	outs := w.targets(sel.GetTargetList(), sc, mode)
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
			outs = append(outs, accessOutput{name: rt.GetName()})
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
				outs = append(outs, accessOutput{name: r.Column, rule: r})
			}
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
			if i := int(c.GetIval().GetIval()); i >= 1 && i <= len(outs) && outs[i-1].rule != nil {
				w.refuseColumn(outs[i-1].rule, how)
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
			// A data-modifying CTE: its RETURNING rows feed the statement.
			w.statementNode(q, sc, outDerived)
		}
		w.cteRels[cte] = derivedRel(cte.GetCtename(), cte.GetAliascolnames(), outs, w)
	}
}

// derivedRel builds the FROM item of a subquery or CTE from its outputs,
// renamed by a column alias list when there is one.
func derivedRel(name string, colnames []*pg_query.Node, outs []accessOutput, w *accessWalker) *accessRel {
	r := &accessRel{name: name, restricted: map[string]*policy.ColumnRule{}, cols: map[string]bool{}}
	for i, o := range outs {
		n := o.name
		if i < len(colnames) {
			n = colnames[i].GetString_().GetSval()
		}
		r.cols[n] = true
		r.order = append(r.order, n)
		if o.rule != nil {
			r.restricted[n] = o.rule
		}
	}
	return r
}

// renameColumns applies an alias's column list (FROM t AS a(x, y)), which
// renames the item's columns by position: a restricted column keeps its
// rule under its new name. Where the item's column order is unknown (a
// join), renaming a restricted column is refused.
func (w *accessWalker) renameColumns(r *accessRel, alias *pg_query.Alias) {
	colnames := alias.GetColnames()
	if len(colnames) == 0 || len(r.restricted) == 0 {
		return
	}
	if r.order == nil {
		rule := sortedRules(r.restricted)[0]
		w.refuseColumn(rule, "under a column list of alias "+policy.QuoteIdentifier(alias.GetAliasname())+" that renames it")
	}
	renamed := map[string]*policy.ColumnRule{}
	order := make([]string, len(r.order))
	for i, c := range r.order {
		n := c
		if i < len(colnames) {
			n = colnames[i].GetString_().GetSval()
		}
		order[i] = n
		if rule := r.restricted[c]; rule != nil {
			renamed[n] = stricter(renamed[n], rule)
		}
	}
	r.restricted, r.order = renamed, order
}

// joinQuals collects the ON conditions of a FROM item's joins, walked once
// every item of the level is in scope.
func joinQuals(item *pg_query.Node) []*pg_query.Node {
	j := item.GetJoinExpr()
	if j == nil {
		return nil
	}
	out := append(joinQuals(j.GetLarg()), joinQuals(j.GetRarg())...)
	if j.GetQuals() != nil {
		out = append(out, j.GetQuals())
	}
	return out
}

// fromItem walks one FROM item, adding what it exposes to sc and
// injecting row rules into base tables.
func (w *accessWalker) fromItem(item *pg_query.Node, sc *accessScope) {
	switch {
	case item.GetRangeVar() != nil:
		sc.rels = append(sc.rels, w.rangeVar(item, sc))
	case item.GetJoinExpr() != nil:
		j := item.GetJoinExpr()
		before := len(sc.rels)
		w.fromItem(j.GetLarg(), sc)
		w.fromItem(j.GetRarg(), sc)
		joined := sc.rels[before:]
		if j.GetIsNatural() {
			for _, r := range joined {
				for _, rule := range sortedRules(r.restricted) {
					w.refuseColumn(rule, "in a NATURAL JOIN")
				}
			}
		}
		for _, u := range j.GetUsingClause() {
			name := u.GetString_().GetSval()
			for _, r := range joined {
				if rule := r.restricted[name]; rule != nil {
					w.refuseColumn(rule, "in JOIN USING")
				}
			}
		}
		if a := j.GetAlias(); a != nil {
			merged := &accessRel{name: a.GetAliasname(), restricted: map[string]*policy.ColumnRule{}, parts: joined}
			for _, r := range joined {
				for k, v := range r.restricted {
					merged.restricted[k] = stricter(merged.restricted[k], v)
				}
			}
			w.renameColumns(merged, a)
			sc.rels = append(sc.rels, merged)
		}
	case item.GetRangeSubselect() != nil:
		rs := item.GetRangeSubselect()
		outs := w.selectQuery(rs.GetSubquery(), sc, outDerived)
		name := ""
		var cols []*pg_query.Node
		if a := rs.GetAlias(); a != nil {
			name, cols = a.GetAliasname(), a.GetColnames()
		}
		sc.rels = append(sc.rels, derivedRel(name, cols, outs, w))
	case item.GetRangeFunction() != nil:
		rf := item.GetRangeFunction()
		w.exprs(rf.GetFunctions(), sc)
		name := ""
		if a := rf.GetAlias(); a != nil {
			name = a.GetAliasname()
		}
		sc.rels = append(sc.rels, &accessRel{name: name, restricted: map[string]*policy.ColumnRule{}})
	case item.GetRangeTableSample() != nil:
		ts := item.GetRangeTableSample()
		rv := ts.GetRelation().GetRangeVar()
		if rv == nil {
			w.refuseConstruct(w.stmtRule(), "", "phiguard cannot analyse this TABLESAMPLE")
		}
		if rule := w.rowRule(rv.GetSchemaname(), rv.GetRelname()); rule != nil && !w.breakGlass {
			w.refuseConstruct(rule.Name, tableString(rv), "TABLESAMPLE on table %s, which has a row rule, is not supported", tableString(rv))
		}
		sc.rels = append(sc.rels, w.rangeVar(ts.GetRelation(), sc))
		w.exprs(ts.GetArgs(), sc)
		w.expr(ts.GetRepeatable(), sc)
	case item.GetRangeTableFunc() != nil:
		tf := item.GetRangeTableFunc()
		w.expr(tf.GetDocexpr(), sc)
		w.expr(tf.GetRowexpr(), sc)
		w.exprs(tf.GetNamespaces(), sc)
		w.exprs(tf.GetColumns(), sc)
		name := ""
		if a := tf.GetAlias(); a != nil {
			name = a.GetAliasname()
		}
		sc.rels = append(sc.rels, &accessRel{name: name, restricted: map[string]*policy.ColumnRule{}})
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
	order, _ := w.objs.Columns(schema, name) // nil when unknown: renaming then refuses
	w.refuseIfNoColumnReadable(tableString(rv), order, restricted)
	return &accessRel{base: true, schema: schema, relname: name, restricted: restricted, order: order}
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
