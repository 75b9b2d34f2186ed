package sqlrewrite

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// updateCheck gives an UPDATE that assigns a column its target's row rule
// reads the rule's WITH CHECK, as PostgreSQL's row security would: every
// new row must still pass the rule, or the statement fails (the proxy
// turns the marked error into a 42501 naming the rule; see
// WriteCheckRefusal). An UPDATE that assigns no such column cannot move a
// row out of the rule: its new rows agree with the old ones, which the
// rule let through, on every column the rule reads.
//
// One assigned value, of a column that is not encrypted, becomes CASE
// WHEN <rule on the new row> THEN value ELSE <error> END: the rule with
// each assigned column replaced by its new value and the other columns
// read from the row being updated. Only constants and parameters are
// substituted, so nothing the user wrote runs twice or in a different
// order; any other new value of a column the rule reads is an unchecked
// write (unchecked_writes decides).
func (w *accessWalker) updateCheck(u *pg_query.UpdateStmt, target *accessRel, rule *policy.RowRule) {
	reads := ruleColumns(rule.Using)
	subst := map[string]*pg_query.Node{}
	k := -1
	for i, t := range u.GetTargetList() {
		rt := t.GetResTarget()
		c, val := rt.GetName(), rt.GetVal()
		if reads[c] {
			if why := w.uncheckable(target, c, rt); why != "" {
				w.unchecked(rule, why)
				return
			}
			subst[c] = val
		}
		if k < 0 && len(rt.GetIndirection()) == 0 && val.GetSetToDefault() == nil && val.GetMultiAssignRef() == nil && !w.encrypted(target, c) {
			k = i
		}
	}
	if len(subst) == 0 {
		return
	}
	if k < 0 {
		w.unchecked(rule, "every assigned column is encrypted or set to DEFAULT")
		return
	}
	rt := u.GetTargetList()[k].GetResTarget()
	typ, ok := w.objs.ColumnType(target.schema, target.relname, rt.GetName())
	if !ok {
		w.unchecked(rule, "phiguard does not know the column types")
		return
	}
	// The rule's names bound to their schemas, so that a CTE of the
	// UPDATE cannot stand in for a table the rule reads.
	cond := w.boundRuleExpr(rule)
	substitute(cond, []string{target.relname}, subst, true)
	// Columns the UPDATE leaves alone are read from the row being
	// updated: qualified, so that a FROM item with a column of the same
	// name cannot stand in for them.
	w.qualifyRule(cond, target)
	span, ok := setValueSpan(w.text.sql, int(rt.GetLocation()))
	rt.Val = w.checkedValue(cond, rt.GetVal(), typ, checkMarker(w.pol, rule), span, ok)
	w.changed, w.touched = true, true
	w.acc.Decisions = append(w.acc.Decisions, Decision{Table: rule.Table.String(), Rule: rule.Name, Effect: "row check"})
}

// uncheckable says why the new value of a column the rule reads cannot be
// put into the rule, or "" when it can.
func (w *accessWalker) uncheckable(target *accessRel, col string, rt *pg_query.ResTarget) string {
	name := policy.QuoteIdentifier(col)
	switch {
	case len(rt.GetIndirection()) > 0:
		return fmt.Sprintf("UPDATE of a part of column %s, which the rule reads", name)
	case !isConstant(rt.GetVal()):
		return fmt.Sprintf("the new value of column %s, which the rule reads, is not a constant or parameter", name)
	case w.encrypted(target, col):
		return fmt.Sprintf("the rule reads column %s, which is encrypted", name)
	}
	return ""
}
