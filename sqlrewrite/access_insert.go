package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// insert walks an INSERT: its source is used (a restricted column may not
// be copied into a table), ON CONFLICT DO UPDATE on a rule table is refused
// (it would update a row the role cannot see), and a new row must pass the
// row rule, like RLS WITH CHECK (see insertCheck).
func (w *accessWalker) insert(ins *pg_query.InsertStmt, parent *accessScope, mode outMode) {
	sc := newAccessScope(parent)
	if ins.GetWithClause() != nil {
		w.with(ins.GetWithClause(), sc)
	}
	target, rule := w.writeTarget(ins.GetRelation(), "INSERT")
	if occ := ins.GetOnConflictClause(); occ != nil {
		if rule != nil && occ.GetAction() == pg_query.OnConflictAction_ONCONFLICT_UPDATE {
			w.refuseConstruct(rule.Name, rule.Table.String(), "INSERT ... ON CONFLICT DO UPDATE on table %s, which has a row rule, could update a row the role cannot see", rule.Table.String())
		}
		ex := newAccessScope(sc)
		ex.rels = []*accessRel{target, {name: "excluded", base: target.base, schema: target.schema, relname: target.relname, restricted: target.restricted}}
		for _, t := range occ.GetTargetList() {
			w.expr(t.GetResTarget().GetVal(), ex)
		}
		w.expr(occ.GetWhereClause(), ex)
		if inf := occ.GetInfer(); inf != nil {
			w.exprs(inf.GetIndexElems(), ex)
			w.expr(inf.GetWhereClause(), ex)
		}
	}
	if src := ins.GetSelectStmt(); src != nil {
		if sel := src.GetSelectStmt(); sel != nil && isPlainValues(sel) {
			for _, row := range sel.GetValuesLists() {
				w.expr(row, sc)
			}
		} else {
			w.selectQuery(src, sc, outUsed)
		}
	}
	ret := newAccessScope(sc)
	ret.add(target)
	w.targets(ins.GetReturningList(), ret, returningMode(mode))
	if rule != nil {
		w.insertCheck(ins, target, rule)
	}
}

func isPlainValues(sel *pg_query.SelectStmt) bool {
	return len(sel.GetValuesLists()) > 0 && len(sel.GetFromClause()) == 0 && sel.GetWithClause() == nil &&
		len(sel.GetSortClause()) == 0 && sel.GetLimitCount() == nil && sel.GetLimitOffset() == nil
}

// unchecked handles a write whose new rows cannot be tested against the
// rule before they are stored: the rule's unchecked_writes decides.
func (w *accessWalker) unchecked(rule *policy.RowRule, why string) {
	if rule.UncheckedWrites == policy.WritesAllow {
		w.acc.Decisions = append(w.acc.Decisions, Decision{Table: rule.Table.String(), Rule: rule.Name, Effect: "write not checked (unchecked_writes: allow)"})
		return
	}
	w.refuseConstruct(rule.Name, rule.Table.String(), "the new rows of table %s cannot be checked against its row rule (%s; unchecked_writes: refuse)", rule.Table.String(), why)
}

// insertCheck makes the backend test every new row against the rule and
// fail the statement with a marked error when one does not pass (the proxy
// swaps that error for a 42501 naming the rule; see WriteCheckRefusal).
//   - INSERT ... VALUES: one value of each row, of a column that is not
//     encrypted, becomes CASE WHEN <rule on the row's values> THEN value
//     ELSE <error> END, cast to the column's type so that the value is
//     read as the column would read it. The VALUES list stays a VALUES
//     list, which the encryption planner needs.
//   - INSERT ... SELECT: the source is wrapped in a SELECT whose WHERE does
//     the same test on each row.
func (w *accessWalker) insertCheck(ins *pg_query.InsertStmt, target *accessRel, rule *policy.RowRule) {
	tableCols, known := w.objs.Columns(target.schema, target.relname)
	if !known {
		w.unchecked(rule, "phiguard does not know the table's columns")
		return
	}
	var cols []string
	for _, c := range ins.GetCols() {
		cols = append(cols, c.GetResTarget().GetName())
	}
	if len(cols) == 0 {
		cols = tableCols
	}
	for c := range ruleColumns(rule.Using) {
		if contains(tableCols, c) && !contains(cols, c) {
			w.unchecked(rule, fmt.Sprintf("column %s, which the rule reads, takes its default", policy.QuoteIdentifier(c)))
			return
		}
	}
	src := ins.GetSelectStmt()
	if src == nil {
		w.unchecked(rule, "DEFAULT VALUES")
		return
	}
	marker := checkMarker(w.pol, rule)
	if sel := src.GetSelectStmt(); sel != nil && isPlainValues(sel) {
		listClose, spans, ok := valuesSpans(w.text.sql, int(ins.GetRelation().GetLocation()))
		ok = ok && (listClose >= 0) == (len(ins.GetCols()) > 0)
		for r, row := range sel.GetValuesLists() {
			if r >= len(spans) {
				ok = false
			}
			place := valuesPlace{ok: ok}
			if ok {
				place.items = spans[r]
			}
			if !w.checkValuesRow(row.GetList(), place, cols, target, rule, marker) {
				return
			}
		}
	} else {
		w.wrapInsertSource(ins, cols, target, rule, marker)
	}
	w.changed, w.touched = true, true
	w.acc.Decisions = append(w.acc.Decisions, Decision{Table: rule.Table.String(), Rule: rule.Name, Effect: "row check"})
}

// checkValuesRow puts the check into one VALUES row; false when the row
// cannot be checked and the rule allows that.
func (w *accessWalker) checkValuesRow(row *pg_query.List, place valuesPlace, cols []string, target *accessRel, rule *policy.RowRule, marker string) bool {
	items := row.GetItems()
	if len(items) != len(cols) {
		w.unchecked(rule, "the VALUES row and the column list differ in length")
		return false
	}
	subst := map[string]*pg_query.Node{}
	reads := ruleColumns(rule.Using)
	for i, c := range cols {
		if !reads[c] {
			continue
		}
		if !isConstant(items[i]) {
			w.unchecked(rule, fmt.Sprintf("the value of column %s is not a constant or parameter", policy.QuoteIdentifier(c)))
			return false
		}
		if w.encrypted(target, c) {
			w.unchecked(rule, fmt.Sprintf("the rule reads column %s, which is encrypted", policy.QuoteIdentifier(c)))
			return false
		}
		subst[c] = items[i]
	}
	k := -1
	for i, c := range cols {
		if items[i].GetSetToDefault() == nil && !w.encrypted(target, c) {
			k = i
			break
		}
	}
	if k < 0 {
		w.unchecked(rule, "every value of the row goes into an encrypted column or is DEFAULT")
		return false
	}
	typ, ok := w.objs.ColumnType(target.schema, target.relname, cols[k])
	if !ok {
		w.unchecked(rule, "phiguard does not know the column types")
		return false
	}
	cond := w.boundRuleExpr(rule)
	substitute(cond, []string{target.relname}, subst, true)
	span, ok := [2]int{}, place.ok && k < len(place.items)
	if ok {
		span = place.items[k]
	}
	items[k] = w.checkedValue(cond, items[k], typ, marker, span, ok)
	return true
}

// valuesPlace is where a VALUES row's items are in the client's text.
type valuesPlace struct {
	items [][2]int
	ok    bool
}

// checkedValue is CASE WHEN cond THEN value::typ ELSE CASE WHEN <error>
// THEN value::typ END END, which replaces the value in the tree, and in
// the text around the client's own text of the value at span.
func (w *accessWalker) checkedValue(cond, value *pg_query.Node, typ, marker string, span [2]int, ok bool) *pg_query.Node {
	checked := func(v func() *pg_query.Node) *pg_query.Node {
		return caseNode(cond, castNode(v(), typ), caseNode(failNode(marker), castNode(v(), typ), nil))
	}
	marked := checked(markerNode)
	w.text.replace(span, ok, func() string { return w.text.fill(w.text.exprText(marked), span) })
	return checked(func() *pg_query.Node { return proto.Clone(value).(*pg_query.Node) })
}

// wrapInsertSource turns INSERT ... SELECT q into INSERT ... SELECT * FROM
// (q) AS phiguard_new(cols) WHERE CASE WHEN <rule> THEN true ELSE <error> END.
func (w *accessWalker) wrapInsertSource(ins *pg_query.InsertStmt, cols []string, target *accessRel, rule *policy.RowRule, marker string) {
	const alias = "phiguard_new"
	subst := map[string]*pg_query.Node{}
	var colnames []*pg_query.Node
	for _, c := range cols {
		subst[c] = &pg_query.Node{Node: &pg_query.Node_ColumnRef{ColumnRef: &pg_query.ColumnRef{
			Fields: []*pg_query.Node{pg_query.MakeStrNode(alias), pg_query.MakeStrNode(c)}}}}
		colnames = append(colnames, pg_query.MakeStrNode(c))
	}
	cond := w.boundRuleExpr(rule)
	substitute(cond, []string{target.relname}, subst, true)
	wrapper := func(source *pg_query.Node) *pg_query.SelectStmt {
		return &pg_query.SelectStmt{
			TargetList: []*pg_query.Node{starTarget()},
			FromClause: []*pg_query.Node{{Node: &pg_query.Node_RangeSubselect{RangeSubselect: &pg_query.RangeSubselect{
				Subquery: source,
				Alias:    &pg_query.Alias{Aliasname: alias, Colnames: colnames},
			}}}},
			WhereClause: caseNode(cond, boolConst(true), failNode(marker)),
			LimitOption: pg_query.LimitOption_LIMIT_OPTION_DEFAULT, // as the parser writes them
			Op:          pg_query.SetOperation_SETOP_NONE,
		}
	}
	// In the text, the client's source goes where the marker query is.
	span, ok := w.text.insertSource(ins)
	marked := wrapper(&pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
		TargetList: []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: markerNode()}}}}}}})
	w.text.replace(span, ok, func() string {
		frag := w.text.selectText(marked)
		if !strings.Contains(frag, "(SELECT "+clientMarker+")") {
			w.text.lost = true
		}
		return strings.Replace(frag, "SELECT "+clientMarker, w.text.client(span), 1)
	})
	ins.SelectStmt = &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: wrapper(ins.GetSelectStmt())}}
}

// encrypted tells whether a column of the target is encrypted in any
// schema the name may mean.
func (w *accessWalker) encrypted(target *accessRel, col string) bool {
	for _, s := range w.candidateSchemas(target.schema, target.relname) {
		if _, ok := w.pol.Column(s, target.relname, col); ok {
			return true
		}
	}
	return false
}

// failNode is CAST(concat(marker, pg_backend_pid()) AS boolean): it always
// fails, with the marker in the message, but only when evaluated —
// concat and pg_backend_pid are stable, so the planner does not fold it.
func failNode(marker string) *pg_query.Node {
	concat := &pg_query.Node{Node: &pg_query.Node_FuncCall{FuncCall: &pg_query.FuncCall{
		Funcname: []*pg_query.Node{pg_query.MakeStrNode("pg_catalog"), pg_query.MakeStrNode("concat")},
		Args: []*pg_query.Node{
			pg_query.MakeAConstStrNode(marker, -1),
			{Node: &pg_query.Node_FuncCall{FuncCall: &pg_query.FuncCall{
				Funcname:   []*pg_query.Node{pg_query.MakeStrNode("pg_catalog"), pg_query.MakeStrNode("pg_backend_pid")},
				Funcformat: pg_query.CoercionForm_COERCE_EXPLICIT_CALL}}},
		},
		Funcformat: pg_query.CoercionForm_COERCE_EXPLICIT_CALL,
	}}}
	return castNode(concat, "boolean")
}

func caseNode(cond, then, otherwise *pg_query.Node) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_CaseExpr{CaseExpr: &pg_query.CaseExpr{
		Args:      []*pg_query.Node{{Node: &pg_query.Node_CaseWhen{CaseWhen: &pg_query.CaseWhen{Expr: cond, Result: then}}}},
		Defresult: otherwise,
	}}}
}

// castNode is CAST(n AS typ), typ as format_type writes it.
func castNode(n *pg_query.Node, typ string) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_TypeCast{TypeCast: &pg_query.TypeCast{Arg: n, TypeName: typeName(typ)}}}
}

func typeName(typ string) *pg_query.TypeName {
	key := "type\x00" + typ
	if t, ok := ruleTemplates.Load(key); ok {
		return proto.Clone(t.(*pg_query.TypeName)).(*pg_query.TypeName)
	}
	tree, err := pg_query.Parse("SELECT NULL::" + typ)
	var tn *pg_query.TypeName
	if err == nil && len(tree.GetStmts()) == 1 {
		tn = tree.GetStmts()[0].GetStmt().GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal().GetTypeCast().GetTypeName()
	}
	if tn == nil {
		tn = &pg_query.TypeName{Names: []*pg_query.Node{pg_query.MakeStrNode("text")}}
	}
	ruleTemplates.Store(key, tn)
	return proto.Clone(tn).(*pg_query.TypeName)
}

// substitute replaces, in a rule expression, the column references that
// name the new row: bare names outside subqueries (inside one they resolve
// to the subquery's own tables first, as in RLS), and names qualified with
// the table's own name anywhere. Never with the statement's alias for the
// table: the rule is written without it, and its subqueries may name a
// table of their own so (red team 36: INSERT INTO clinical_notes AS ct
// made the rule's SELECT ct.patient FROM care_teams ct the new row's
// patient, and the check passed for any patient).
func substitute(e *pg_query.Node, tableNames []string, subst map[string]*pg_query.Node, top bool) {
	if e == nil {
		return
	}
	if ref := e.GetColumnRef(); ref != nil && plainRef(ref) {
		f := ref.GetFields()
		col := lastField(ref)
		v, ok := subst[col]
		if ok && (len(f) == 1 && top || len(f) == 2 && contains(tableNames, f[0].GetString_().GetSval())) {
			e.Node = proto.Clone(v).(*pg_query.Node).Node
		}
		return
	}
	if sl := e.GetSubLink(); sl != nil {
		substitute(sl.GetTestexpr(), tableNames, subst, top)
		substitute(sl.GetSubselect(), tableNames, subst, false)
		return
	}
	eachChild(e, func(c *pg_query.Node) { substitute(c, tableNames, subst, top) })
}

// eachNodeIn calls f on the nodes found in m, descending through messages
// that are not nodes.
func eachNodeIn(m protoreflect.Message, f func(*pg_query.Node)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		visit := func(child protoreflect.Message) {
			if n, ok := child.Interface().(*pg_query.Node); ok {
				f(n)
				return
			}
			eachNodeIn(child, f)
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
