package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/proto"
)

// targetRel checks the table a write names and returns its FROM item and
// row rule (nil when break-glass is on or there is none).
func (w *accessWalker) targetRel(rv *pg_query.RangeVar) (*accessRel, *policy.RowRule) {
	rel := w.baseRel(rv)
	rel.name = rv.GetRelname()
	if a := rv.GetAlias(); a != nil {
		rel.name = a.GetAliasname()
	}
	rule := w.rowRule(rel.schema, rel.relname)
	if w.breakGlass {
		rule = nil
	}
	return rel, rule
}

// writeTarget is targetRel for a statement that writes the table (INSERT,
// UPDATE, DELETE, MERGE, COPY FROM): besides the table's own row rule,
// which the new rows must pass, the table must not be one the role's row
// rules read (a care-team table), unless writes_rule_tables lists it.
// Break-glass does not lift this: a row written now would widen the rule
// for every later session.
func (w *accessWalker) writeTarget(rv *pg_query.RangeVar, what string) (*accessRel, *policy.RowRule) {
	rel, rule := w.targetRel(rv)
	w.refuseRuleInput(rv, what)
	return rel, rule
}

// refuseRuleInput refuses a statement that would change a table one of
// the role's row rules reads, naming the rule and the escalation.
func (w *accessWalker) refuseRuleInput(rv *pg_query.RangeVar, what string) {
	rules := w.role.RulesReading(rv.GetSchemaname(), rv.GetRelname())
	if len(rules) == 0 {
		return
	}
	rr := rules[0]
	w.refuseConstruct(rr.Name, tableString(rv), "%s on table %s is not allowed: row rule %q reads it, so writing it would change which rows of %s the role sees (list the table under roles.%s.writes_rule_tables to allow it)",
		what, tableString(rv), rr.Name, rr.Table.String(), w.role.Name)
}

// writeScope builds the scope of an UPDATE or DELETE: its WITH clause, its
// target, and the other tables of its FROM or USING list with their join
// conditions.
func (w *accessWalker) writeScope(what string, parent *accessScope, with *pg_query.WithClause, rv *pg_query.RangeVar, items []*pg_query.Node) (*accessScope, *accessRel, *policy.RowRule) {
	sc := newAccessScope(parent)
	if with != nil {
		w.with(with, sc)
	}
	target, rule := w.writeTarget(rv, what)
	sc.add(target)
	for _, item := range items {
		w.fromItem(item, sc)
	}
	return sc, target, rule
}

// update walks an UPDATE. Its target gets the rule as a condition (a
// target cannot be a subquery): the rule first, then the user's condition
// guarded by CASE so that it is never evaluated on a hidden row (see
// guardedWhere).
func (w *accessWalker) update(u *pg_query.UpdateStmt, parent *accessScope, mode outMode) {
	sc, target, rule := w.writeScope("UPDATE", parent, u.GetWithClause(), u.GetRelation(), u.GetFromClause())
	for _, t := range u.GetTargetList() {
		w.expr(t.GetResTarget().GetVal(), sc)
	}
	w.expr(u.GetWhereClause(), sc)
	w.targets(u.GetReturningList(), sc, returningMode(mode))
	if rule != nil {
		w.updateCheck(u, target, rule)
		u.WhereClause = w.guardedWhere(rule, target, u.GetRelation(), u.GetWhereClause(), len(u.GetFromClause()) > 0)
	}
}

// delete walks a DELETE the same way.
func (w *accessWalker) delete(d *pg_query.DeleteStmt, parent *accessScope, mode outMode) {
	sc, target, rule := w.writeScope("DELETE", parent, d.GetWithClause(), d.GetRelation(), d.GetUsingClause())
	w.expr(d.GetWhereClause(), sc)
	w.targets(d.GetReturningList(), sc, returningMode(mode))
	if rule != nil {
		d.WhereClause = w.guardedWhere(rule, target, d.GetRelation(), d.GetWhereClause(), len(d.GetUsingClause()) > 0)
	}
}

func returningMode(mode outMode) outMode {
	if mode == outDerived {
		return outUsed // RETURNING rows of a data-modifying CTE have no origin
	}
	return mode
}

// guardedWhere builds `rule AND <col = const conditions> AND CASE WHEN rule
// THEN <user condition> ELSE false END`. PostgreSQL orders a scan's
// conditions by cost, so without the CASE a cheap condition of the user's
// could run on a hidden row and raise an error that tells its value; the
// copied equality conditions are leakproof and keep index scans working.
// The statement's target is named at rv; the new condition replaces the
// user's in the text, which it holds as written (access_text.go).
func (w *accessWalker) guardedWhere(rule *policy.RowRule, target *accessRel, rv *pg_query.RangeVar, where *pg_query.Node, qualify bool) *pg_query.Node {
	if where.GetCurrentOfExpr() != nil {
		// CURRENT OF stands alone in a WHERE (no rule can join it), and
		// a cursor over the rule's subquery is not simply updatable
		// anyway; was refused XX000 by the deparser.
		w.refuseConstruct(rule.Name, rule.Table.String(), "WHERE CURRENT OF on table %s, which has a row rule, is not supported", rule.Table.String())
	}
	r1, r2 := w.boundRuleExpr(rule), w.boundRuleExpr(rule)
	if qualify {
		// Other tables in FROM/USING could make the rule's bare column
		// names ambiguous: qualify those that are the target's.
		w.qualifyRule(r1, target)
		w.qualifyRule(r2, target)
	}
	w.changed, w.touched = true, true
	w.acc.Decisions = append(w.acc.Decisions, Decision{Table: rule.Table.String(), Rule: rule.Name, Effect: "rows filtered"})
	span, has, ok := w.text.dmlWhere(rv)
	if where == nil {
		w.text.replace(span, ok && !has, func() string { return " WHERE " + w.text.exprText(r1) })
		return r1
	}
	out := r1
	allLeakproof := true
	for _, c := range conjuncts(where) {
		if ref, ok := equalityWithConstant(c); ok && (len(ref.GetFields()) == 1 || ref.GetFields()[0].GetString_().GetSval() == target.name) {
			out = andNodes(out, proto.Clone(c).(*pg_query.Node))
		} else {
			allLeakproof = false
		}
	}
	if allLeakproof {
		// Every condition of the user's is a leakproof equality, already
		// copied: there is nothing left to guard.
		w.text.replace(span, ok && has, func() string { return w.text.exprText(out) })
		return out
	}
	guarded := func(cond *pg_query.Node) *pg_query.Node {
		return andNodes(out, caseNode(r2, cond, boolConst(false)))
	}
	marked := guarded(markerNode())
	w.text.replace(span, ok && has, func() string { return w.text.fill(w.text.exprText(marked), span) })
	return guarded(where)
}

func boolConst(b bool) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_AConst{AConst: &pg_query.A_Const{Val: &pg_query.A_Const_Boolval{Boolval: &pg_query.Boolean{Boolval: b}}}}}
}

// qualifyRule prefixes the rule's top-level bare column names (not those
// inside its subqueries, which resolve there first, as in RLS) that are
// columns of the target with the target's name.
func (w *accessWalker) qualifyRule(e *pg_query.Node, target *accessRel) {
	cols, ok := w.objs.Columns(target.schema, target.relname)
	if !ok {
		return
	}
	var visit func(n *pg_query.Node)
	visit = func(n *pg_query.Node) {
		if n == nil {
			return
		}
		if n.GetSubLink() != nil {
			visit(n.GetSubLink().GetTestexpr())
			return
		}
		if ref := n.GetColumnRef(); ref != nil {
			if len(ref.GetFields()) == 1 && contains(cols, lastField(ref)) {
				ref.Fields = append([]*pg_query.Node{pg_query.MakeStrNode(target.name)}, ref.Fields...)
			}
			return
		}
		eachChild(n, visit)
	}
	visit(e)
}

// eachChild calls f on every node directly or indirectly below n, without
// descending into the nodes it finds.
func eachChild(n *pg_query.Node, f func(*pg_query.Node)) {
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd == nil || fd.Message() == nil {
		return
	}
	eachNodeIn(m.Get(fd).Message(), f)
}

// merge refuses MERGE on a table with a row rule (its WHEN MATCHED arms
// reach existing rows the role may not see) and checks the rest.
func (w *accessWalker) merge(m *pg_query.MergeStmt) {
	sc := newAccessScope(nil)
	if m.GetWithClause() != nil {
		w.with(m.GetWithClause(), sc)
	}
	target, rule := w.writeTarget(m.GetRelation(), "MERGE")
	if rule != nil {
		w.refuseConstruct(rule.Name, rule.Table.String(), "MERGE into table %s, which has a row rule, is not supported", rule.Table.String())
	}
	sc.add(target)
	w.fromItem(m.GetSourceRelation(), sc)
	w.expr(m.GetJoinCondition(), sc)
	w.exprs(m.GetMergeWhenClauses(), sc)
}

// copy handles COPY: a table with a row rule or restricted columns cannot
// be copied out as a whole (the rows and values would bypass the rules);
// COPY (query) TO gets the rules like any query, but may not output a
// restricted column (COPY data carries no column origin); COPY FROM into a
// rule table cannot be checked row by row.
func (w *accessWalker) copy(c *pg_query.CopyStmt) {
	if c.GetIsProgram() || c.GetFilename() != "" {
		w.refuseConstruct(w.stmtRule(), "", "COPY to or from a server file or program is not allowed for a role with access rules")
	}
	if q := c.GetQuery(); q != nil {
		if q.GetSelectStmt() == nil {
			w.refuseConstruct(w.stmtRule(), "", "COPY of a %s is not supported for a role with access rules", nodeName(q))
		}
		w.selectQuery(q, nil, outUsed)
		return
	}
	rel, rule := w.targetRel(c.GetRelation())
	if c.GetIsFrom() {
		w.refuseRuleInput(c.GetRelation(), "COPY FROM")
		if rule != nil && rule.UncheckedWrites != policy.WritesAllow {
			w.refuseConstruct(rule.Name, rule.Table.String(), "COPY FROM into table %s cannot be checked against its row rule (unchecked_writes: refuse)", rule.Table.String())
		}
		return
	}
	if rule != nil {
		w.refuseConstruct(rule.Name, rule.Table.String(), "COPY %s TO would bypass its row rule; use COPY (SELECT ... FROM %s) TO STDOUT", rule.Table.String(), rule.Table.String())
	}
	var listed []string
	for _, a := range c.GetAttlist() {
		listed = append(listed, a.GetString_().GetSval())
	}
	for _, r := range sortedRules(rel.restricted) {
		if len(listed) == 0 || contains(listed, r.Column) {
			w.refuseColumn(r, "in COPY (COPY data carries no column origin for the rule to follow)")
		}
	}
}
