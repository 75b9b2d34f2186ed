package sqlrewrite

import (
	"math"
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// The planner's half of operator_guard.go: where each comparison on
// cells stands in the text, and the operand types PostgreSQL resolves
// its operator for in the plaintext statement.

// operandSpan is where an operand stands and its plaintext type.
type operandSpan struct {
	start, end int
	operand    Operand
	unknown    bool // an untyped literal or NULL: it takes the other side's type
}

// guardComparison records the check of e, `l op r` (op = or <>),
// planned as a comparison on cells; lc and rc are the protected columns
// l and r name (nil for a value), added the index of the value slot its
// literal or parameter got (-1: none, NULL). A comparison whose place
// phiguard cannot find is refused.
func (p *planner) guardComparison(lc, rc *policy.ProtectedColumn, op string, e *pg_query.A_Expr, added int) {
	l, r := e.GetLexpr(), e.GetRexpr()
	col := lc
	if col == nil {
		col = rc
	}
	if op == "!=" {
		op = "<>"
	}
	ls, lok := p.operandAt(l, lc, added)
	rs, rok := p.operandAt(r, rc, added)
	if !lok || !rok {
		p.refuse(col, op+" in a form phiguard cannot place its check of the operator in")
		return
	}
	rAt := rs.start
	ls, rs = p.parenthesized(ls), p.parenthesized(rs)
	if ls.unknown {
		ls.operand = Operand{Type: rs.operand.Type, Param: rs.operand.Param}
	}
	if rs.unknown {
		rs.operand = Operand{Type: ls.operand.Type, Param: ls.operand.Param}
	}
	value, valueNode, bare := rs, r, rs.start == rAt // of two columns, the right one
	if lc == nil {
		value, valueNode, bare = ls, l, false // left of the column: never listed
	}
	g := OperatorGuard{Column: col, Op: op, Pairs: []OperandPair{{ls.operand, rs.operand}}, Slot: -1, joins: lc != nil && rc != nil}
	if !p.placeGuard(&g, e, value, valueNode, added, bare) {
		return
	}
	p.addOperatorGuard(g, min(ls.start, rs.start), max(ls.end, rs.end))
}

// placeGuard chooses where g's check goes (Placement) and records the
// value operand's points; false when it refused instead. A NULL operand
// is folded with its comparison at planning wherever it stands, and a
// parameter bound to NULL alike in a custom plan; a check beside the
// comparison is hoisted only where p.hoisted says (hoistedConjuncts).
// A literal or parameter right of the column and not in parentheses
// (bare), which may have to stand for several cells, becomes an item
// of an array (PlaceArray): a CASE around it could not hold the list.
func (p *planner) placeGuard(g *OperatorGuard, e *pg_query.A_Expr, value operandSpan, valueNode *pg_query.Node, added int, bare bool) bool {
	isNull := valueNode.GetAConst() != nil && valueNode.GetAConst().GetIsnull()
	isSlot := added >= 0 && added < len(p.plan.Values)
	isParam := isSlot && p.plan.Values[added].Literal < 0
	listed := isSlot && bare && (p.plan.Values[added].Form == CompareEq || p.plan.Values[added].Form == CompareNe)
	g.ValueOpen, g.ValueClose = p.pointAt(value.start), p.pointAt(value.end)
	g.Folds = (isNull || isParam) && !p.plainLeaf
	switch {
	case p.copyWhere && isNull:
		p.refuse(g.Column, g.Op+" NULL in COPY ... WHERE (it is never true: write IS NULL)")
		return false
	case p.copyWhere:
		g.Place = PlaceAround // evaluated on each row; no sub-SELECT may stand there
	case listed && (isParam || !p.hoisted[e]):
		g.Place, g.Slot = PlaceArray, added
	case isNull || !p.hoisted[e]:
		g.Place = PlaceOperand
	case isParam:
		g.Place = PlaceAroundNull
	default:
		g.Place = PlaceAround
	}
	if isSlot && g.Op == "=" && !p.copyWhere && (g.Place == PlaceAround || g.Place == PlaceAroundNull) {
		g.class = &classPlace{place: PlaceOperand, slot: -1} // planner_operator_class.go
		if listed {
			g.class = &classPlace{place: PlaceArray, slot: added}
		}
	}
	return true
}

// guardIn records the check of `col IN (...)` or NOT IN (op <>), e being
// the expression and first the index of its first value slot. PostgreSQL
// compares the column with the items' common type, which is the
// column's or one of theirs: each is checked. Its check, where it is
// not beside it, is one more item (PlaceItem): PostgreSQL computes the
// list (an array) whole.
func (p *planner) guardIn(col *policy.ProtectedColumn, e *pg_query.A_Expr, first int) {
	op := "="
	if funcNameOf(e.GetName()) == "<>" {
		op = "<>"
	}
	left, ok := p.operandAt(e.GetLexpr(), col, -1)
	end, ok2 := p.closingParen(int(e.GetLocation()))
	items := e.GetRexpr().GetList().GetItems()
	if !ok || !ok2 || len(items) == 0 {
		p.refuse(col, "IN in a form phiguard cannot place its check of the operator in")
		return
	}
	left = p.parenthesized(left)
	pairs := []OperandPair{{left.operand, left.operand}}
	slot := first
	for _, item := range items {
		it, ok := p.itemOperand(item, &slot)
		if !ok {
			p.refuse(col, "IN in a form phiguard cannot place its check of the operator in")
			return
		}
		if !it.unknown {
			pairs = append(pairs, OperandPair{left.operand, it.operand})
		}
	}
	// The check is one more item of the list, before its ")": no cell
	// equals it, and the list of two or more is not folded.
	g := OperatorGuard{Column: col, Op: op, Pairs: pairs, Slot: -1, Place: PlaceItem,
		ValueOpen: p.pointAt(end - 1), ValueClose: p.pointAt(end - 1)}
	switch {
	case p.copyWhere && len(items) == 1 && items[0].GetAConst().GetIsnull():
		p.refuse(col, "IN (NULL) in COPY ... WHERE (it is never true: write IS NULL)")
		return
	case p.copyWhere || p.hoisted[e] && len(items) > 1: // a list of one is a comparison with its item
		g.Place = PlaceAround
	}
	// A list of one NULL or parameter is folded as `col = NULL` is; one
	// of two or more is an array PostgreSQL does not fold with the column.
	g.Folds = len(items) == 1 && (items[0].GetAConst().GetIsnull() || items[0].GetParamRef() != nil) && !p.plainLeaf
	p.addOperatorGuard(g, left.start, end)
}

// itemOperand is an IN item's operand; slot is advanced past the value
// slot it took.
func (p *planner) itemOperand(item *pg_query.Node, slot *int) (operandSpan, bool) {
	if c := item.GetAConst(); c != nil && c.GetIsnull() {
		return p.operandAt(item, nil, -1)
	}
	at := *slot
	*slot++
	return p.operandAt(item, nil, at)
}

// itemForms makes the value of each PlaceArray guard an item of its
// array (CompareItem), in a plan whose text the guards are placed in:
// all of them, or in a read RewriteSort writes those that fold
// (sortedPlacements).
func (p *planner) itemForms() {
	if p.plan.Refusal != nil {
		return
	}
	p.classPlacements()
	p.sortedPlacements()
	for _, g := range p.plan.TextGuards() {
		if g.Place != PlaceArray || g.Slot < 0 || g.Slot >= len(p.plan.Values) {
			continue
		}
		// Its twins too: a value planned twice (a GROUP BY position
		// naming a select-list entry) has a slot per walk, one guard.
		at := p.plan.Values[g.Slot]
		for i, v := range p.plan.Values {
			if v.Column == at.Column && v.Literal == at.Literal && v.Param == at.Param && v.Token == at.Token {
				p.plan.Values[i].Form = CompareItem
			}
		}
	}
}

// sortedPlacements places the checks of a read phiguard sorts, filters
// or aggregates itself (a SortPlan), whose text RewriteSort writes: each
// check is in the one gate GateWhere puts first in its top-level WHERE
// (PlaceGate), which PostgreSQL hoists into a One-Time Filter run before
// any row, wherever the comparison stands. But a comparison with NULL,
// or with a parameter a custom plan binds to NULL (Folds), is folded to
// NULL at planning, and a WHERE (its own or a subquery's pulled up into
// it) with it to false, gate and all: that one keeps its placement in
// the operand too (PlaceOperand, PlaceArray, PlaceItem; PlaceAroundNull
// without the check beside it, which the gate is: PlaceNull), so that
// no plan can decide it without the check, nor fold it.
func (p *planner) sortedPlacements() {
	if p.plan.Sort == nil {
		return
	}
	p.plan.Sort.textGuards = nil
	for i := range p.plan.Operators {
		g := &p.plan.Operators[i]
		switch {
		case !g.Folds:
			g.Place = PlaceGate
		case g.Place == PlaceAroundNull:
			g.Place = PlaceNull
		}
		if g.Place != PlaceGate {
			p.plan.Sort.textGuards = append(p.plan.Sort.textGuards, *g)
		}
	}
}

// addOperatorGuard records g, a comparison from start to end in the text.
func (p *planner) addOperatorGuard(g OperatorGuard, start, end int) {
	g.Open, g.Close = p.pointAt(start), p.pointAt(end)
	for _, o := range p.plan.Operators {
		if o.Open == g.Open && o.Close == g.Close {
			return // planned twice (a GROUP BY naming a select-list entry)
		}
	}
	p.plan.Operators = append(p.plan.Operators, g)
}

// hoistedConjuncts are the comparisons of statement n beside which a
// check is hoisted by PostgreSQL into a One-Time Filter at the top of
// the plan, run before any row is read: the conjuncts of the
// statement's own WHERE (a SELECT's, not a set operation's; an UPDATE's;
// a DELETE's), and of the ON of each inner join its FROM reaches through
// inner joins and the preserved side of outer joins (a condition without
// columns is a gating qual there, put at the top; below an outer join it
// is not). Not: a conjunct of an outer join's ON (a join filter, run on
// the rows the join matched, by a hash of the cells, say), of a
// subquery's WHERE (a NOT EXISTS's is an anti join's ON), or anything
// under OR or NOT.
func hoistedConjuncts(n *pg_query.Node) map[*pg_query.A_Expr]bool {
	out := map[*pg_query.A_Expr]bool{}
	var from []*pg_query.Node
	var where *pg_query.Node
	switch {
	case n.GetSelectStmt() != nil && n.GetSelectStmt().GetOp() == pg_query.SetOperation_SETOP_NONE:
		from, where = n.GetSelectStmt().GetFromClause(), n.GetSelectStmt().GetWhereClause()
	case n.GetUpdateStmt() != nil:
		from, where = n.GetUpdateStmt().GetFromClause(), n.GetUpdateStmt().GetWhereClause()
	case n.GetDeleteStmt() != nil:
		from, where = n.GetDeleteStmt().GetUsingClause(), n.GetDeleteStmt().GetWhereClause()
	}
	markConjuncts(where, out)
	for _, f := range from {
		joinConjuncts(f, out)
	}
	return out
}

// markConjuncts marks the comparisons n is an AND of.
func markConjuncts(n *pg_query.Node, out map[*pg_query.A_Expr]bool) {
	if b := n.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		for _, a := range b.GetArgs() {
			markConjuncts(a, out)
		}
		return
	}
	if e := n.GetAExpr(); e != nil {
		out[e] = true
	}
}

// joinConjuncts marks the conjuncts of the inner joins' ON in n that are
// not below an outer join (PostgreSQL reads RIGHT JOIN as a LEFT JOIN
// of its two sides swapped).
func joinConjuncts(n *pg_query.Node, out map[*pg_query.A_Expr]bool) {
	j := n.GetJoinExpr()
	if j == nil {
		return
	}
	switch j.GetJointype() {
	case pg_query.JoinType_JOIN_INNER:
		markConjuncts(j.GetQuals(), out)
		joinConjuncts(j.GetLarg(), out)
		joinConjuncts(j.GetRarg(), out)
	case pg_query.JoinType_JOIN_LEFT:
		joinConjuncts(j.GetLarg(), out)
	case pg_query.JoinType_JOIN_RIGHT:
		joinConjuncts(j.GetRarg(), out)
	}
}

// parenthesized widens o over the parentheses written around it alone,
// `(tag) = ('t1')`: the check opened at the column inside its
// parenthesis would make `((check AND tag) = ...)`. Between a "(" just
// before and a ")" just after stands only the operand, whose own
// parentheses (a cast's) balance, so the two are a pair.
func (p *planner) parenthesized(o operandSpan) operandSpan {
	toks := make([]*pg_query.ScanToken, 0, len(p.tokens()))
	for _, t := range p.tokens() {
		if !isComment(t) {
			toks = append(toks, t)
		}
	}
	for {
		i := slices.IndexFunc(toks, func(t *pg_query.ScanToken) bool { return int(t.GetStart()) == o.start })
		j := slices.IndexFunc(toks, func(t *pg_query.ScanToken) bool { return int(t.GetEnd()) == o.end })
		if i < 1 || j < 0 || j+1 >= len(toks) || p.tokenText(toks[i-1]) != "(" || p.tokenText(toks[j+1]) != ")" {
			return o
		}
		o.start, o.end = int(toks[i-1].GetStart()), int(toks[j+1].GetEnd())
	}
}

func (p *planner) tokenText(t *pg_query.ScanToken) string { return p.sql[t.GetStart():t.GetEnd()] }

// pointAt is the point pos as a TextCut: after the last literal that ends
// at or before it, so that it holds for every text of the shape.
func (p *planner) pointAt(pos int) TextCut {
	after, base := -1, 0
	for i, sp := range p.spans() {
		if sp[1] > pos {
			break
		}
		after, base = i, sp[1]
	}
	return TextCut{After: after, Start: pos - base, End: pos - base}
}

// operandAt is where n, an operand of a comparison on cells, stands:
// a reference to the protected column col, or the value recorded in slot
// index added.
func (p *planner) operandAt(n *pg_query.Node, col *policy.ProtectedColumn, added int) (operandSpan, bool) {
	switch {
	case col != nil:
		loc := int(n.GetColumnRef().GetLocation())
		end, ok := p.refEnd(loc)
		if !ok || n.GetColumnRef() == nil {
			return operandSpan{}, false
		}
		return operandSpan{start: loc, end: end, operand: Operand{Type: col.Type.OID}}, true
	case n.GetAConst() != nil && n.GetAConst().GetIsnull():
		loc := int(n.GetAConst().GetLocation())
		if loc < 0 || loc+4 > len(p.sql) || !strings.EqualFold(p.sql[loc:loc+4], "null") {
			return operandSpan{}, false
		}
		return operandSpan{start: loc, end: loc + 4, unknown: true}, true
	}
	if added < 0 || added >= len(p.plan.Values) {
		return operandSpan{}, false
	}
	v := p.plan.Values[added]
	if v.Literal < 0 {
		if n.GetParamRef() == nil || n.GetParamRef().GetLocation() < 0 {
			return operandSpan{}, false
		}
		loc := int(n.GetParamRef().GetLocation())
		end := loc + 1 + len(strconv.Itoa(v.Param))
		return operandSpan{start: loc, end: end, operand: Operand{Type: v.Column.Type.OID, Param: v.Param}}, end <= len(p.sql)
	}
	sp, ok := v.Region([]byte(p.sql), p.spans())
	if v.Array != nil && ok && v.Array.Last < len(p.spans()) {
		sp[1] = p.spans()[v.Array.Last][1] + v.After // After counts from the last element
	}
	if !ok || sp[1] > len(p.sql) {
		return operandSpan{}, false
	}
	t, unknown := literalType(n, v)
	return operandSpan{start: sp[0], end: sp[1], operand: Operand{Type: t, cast: unqualifiedCast(n)}, unknown: unknown}, true
}

// unqualifiedCast is n's cast when it names its type without a schema
// (and phiguard knows the name): the check tests the name is
// pg_catalog's type.
func unqualifiedCast(n *pg_query.Node) castName {
	tc := n.GetTypeCast()
	if tc == nil || len(tc.GetTypeName().GetNames()) != 1 {
		return castName{}
	}
	lt, ok := castType(tc.GetTypeName())
	if !ok {
		return castName{}
	}
	return castName{tc.GetTypeName().GetNames()[0].GetString_().GetSval(), lt.OID, len(tc.GetTypeName().GetArrayBounds()) > 0}
}

// literalType is the type PostgreSQL gives a compared constant: a quoted
// literal none (unknown: the column's), a cast its type, a number int4,
// int8 or numeric by its size, true and false boolean.
func literalType(n *pg_query.Node, v ValueSlot) (uint32, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		if v.ReadAs != 0 {
			return v.ReadAs, false
		}
		return v.Column.Type.OID, false
	}
	c := n.GetAConst()
	switch {
	case c == nil:
		return 0, true
	case c.GetIval() != nil, c.GetFval() != nil:
		return numberType(c), false
	case c.GetBoolval() != nil:
		return policy.OIDBool, false
	case c.GetBsval() != nil:
		return 1560, false // bit
	}
	return 0, true
}

// numberType is a number constant's type: int4 for an integer that
// fits, int8 or numeric by its size otherwise, as PostgreSQL's make_const
// types it. -2147483648 is a Fval (the grammar negates 2147483648, too
// big for an Ival, as text) that fits int4: int4, not int8
// (TestRedTeam30NumberShapes).
func numberType(c *pg_query.A_Const) uint32 {
	if c.GetIval() != nil {
		return policy.OIDInt4
	}
	v, err := strconv.ParseInt(strings.TrimSpace(c.GetFval().GetFval()), 10, 64)
	switch {
	case err != nil:
		return policy.OIDNumeric
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return policy.OIDInt4
	}
	return policy.OIDInt8
}

// refEnd is where the column reference starting at loc ends: its names
// and the dots between them.
func (p *planner) refEnd(loc int) (int, bool) {
	toks := p.tokens()
	for i, t := range toks {
		if int(t.GetStart()) != loc {
			continue
		}
		end := int(t.GetEnd())
		for j := i + 1; j+1 < len(toks) && p.sql[toks[j].GetStart():toks[j].GetEnd()] == "." && int(toks[j].GetStart()) == end; j += 2 {
			end = int(toks[j+1].GetEnd())
		}
		return end, true
	}
	return 0, false
}

// closingParen is the end of the parenthesis closing the first one
// opened at or after from (an IN list's).
func (p *planner) closingParen(from int) (int, bool) {
	depth := 0
	for _, t := range p.tokens() {
		if int(t.GetStart()) < from || isComment(t) {
			continue
		}
		switch p.sql[t.GetStart():t.GetEnd()] {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return int(t.GetEnd()), true
			}
			if depth < 0 {
				return 0, false
			}
		}
	}
	return 0, false
}

// naturalJoin refuses a NATURAL JOIN that joins on an encrypted column of
// both sides: its = is resolved through search_path like any, and has no
// place in the text for the check, as JOIN USING has none.
func (p *planner) naturalJoin(left, right []*relation) {
	names := map[string]bool{}
	for _, r := range left {
		for _, name := range protectedNames(r) {
			names[name] = true
		}
	}
	for _, r := range right {
		for _, name := range protectedNames(r) {
			if names[name] {
				p.refuse(r.column(name), "NATURAL JOIN (write ON with = instead: phiguard checks which operator = is there)")
				return
			}
		}
	}
	p.naturalWithPlain(left, right)
	p.naturalWithPlain(right, left)
}

// naturalWithPlain refuses a NATURAL JOIN that would compare an encrypted
// column of prot with a plain column of the same name of other, where
// PostgreSQL compares the plaintext (TestRedTeam35NaturalJoinPlainSide:
// 0 rows for the rows tagged t1); a table of other must lack the name,
// which the guard checks in the catalog (Plan.Unshadowed).
func (p *planner) naturalWithPlain(prot, other []*relation) {
	for _, r := range prot {
		for _, name := range protectedNames(r) {
			col := r.column(name)
			for _, o := range other {
				yes, unless, opaque := o.hasColumn(name) // scope_columns.go
				if yes || opaque {
					p.refuse(col, "NATURAL JOIN with a column of the same name that is not encrypted, or that phiguard cannot tell is not (write ON instead)")
					return
				}
				p.checks.mustLack(name, unless, col)
			}
		}
	}
}

// protectedNames are the names r gives its protected columns, in order.
func protectedNames(r *relation) []string {
	var out []string
	if r.table != nil {
		for _, c := range r.table.Columns {
			out = append(out, c.Name)
		}
		return out
	}
	for name := range r.outputs {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
