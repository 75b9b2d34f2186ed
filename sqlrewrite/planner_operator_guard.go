package sqlrewrite

import (
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

// guardComparison records the check of `l op r` (op = or <>), planned
// as a comparison on cells; lc and rc are the protected columns l and r
// name (nil for a value), added the index of the value slot its literal
// or parameter got (-1: none, NULL). A comparison whose place phiguard
// cannot find is refused.
func (p *planner) guardComparison(lc, rc *policy.ProtectedColumn, op string, l, r *pg_query.Node, added int) {
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
	ls, rs = p.parenthesized(ls), p.parenthesized(rs)
	if ls.unknown {
		ls.operand = Operand{Type: rs.operand.Type, Param: rs.operand.Param}
	}
	if rs.unknown {
		rs.operand = Operand{Type: ls.operand.Type, Param: ls.operand.Param}
	}
	p.addOperatorGuard(col, op, min(ls.start, rs.start), max(ls.end, rs.end), []OperandPair{{ls.operand, rs.operand}})
}

// guardIn records the check of `col IN (...)` or NOT IN (op <>), e being
// the expression and first the index of its first value slot. PostgreSQL
// compares the column with the items' common type, which is the
// column's or one of theirs: each is checked.
func (p *planner) guardIn(col *policy.ProtectedColumn, e *pg_query.A_Expr, first int) {
	op := "="
	if funcNameOf(e.GetName()) == "<>" {
		op = "<>"
	}
	left, ok := p.operandAt(e.GetLexpr(), col, -1)
	end, ok2 := p.closingParen(int(e.GetLocation()))
	if !ok || !ok2 {
		p.refuse(col, "IN in a form phiguard cannot place its check of the operator in")
		return
	}
	left = p.parenthesized(left)
	pairs := []OperandPair{{left.operand, left.operand}}
	slot := first
	for _, item := range e.GetRexpr().GetList().GetItems() {
		it, ok := p.itemOperand(item, &slot)
		if ok && !it.unknown {
			pairs = append(pairs, OperandPair{left.operand, it.operand})
		}
	}
	p.addOperatorGuard(col, op, left.start, end, pairs)
}

// itemOperand is an IN item's operand; slot is advanced past the value
// slot it took.
func (p *planner) itemOperand(item *pg_query.Node, slot *int) (operandSpan, bool) {
	if c := item.GetAConst(); c != nil && c.GetIsnull() {
		return operandSpan{unknown: true}, true
	}
	at := *slot
	*slot++
	return p.operandAt(item, nil, at)
}

func (p *planner) addOperatorGuard(col *policy.ProtectedColumn, op string, start, end int, pairs []OperandPair) {
	g := OperatorGuard{Open: p.pointAt(start), Close: p.pointAt(end), Column: col, Op: op, Pairs: pairs}
	for _, o := range p.plan.Operators {
		if o.Open == g.Open && o.Close == g.Close {
			return // planned twice (a GROUP BY naming a select-list entry)
		}
	}
	p.plan.Operators = append(p.plan.Operators, g)
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
	return operandSpan{start: sp[0], end: sp[1], operand: Operand{Type: t, cast: castOf(n)}, unknown: unknown}, true
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
// fits, int8 or numeric by its size otherwise.
func numberType(c *pg_query.A_Const) uint32 {
	if c.GetIval() != nil {
		return policy.OIDInt4
	}
	if _, err := strconv.ParseInt(strings.TrimSpace(c.GetFval().GetFval()), 10, 64); err == nil {
		return policy.OIDInt8
	}
	return policy.OIDNumeric
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
				p.refuse(r.protectedColumn(name), "NATURAL JOIN (write ON with = instead: phiguard checks which operator = is there)")
				return
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

// protectedColumn is r's protected column of that name.
func (r *relation) protectedColumn(name string) *policy.ProtectedColumn {
	if r.table != nil {
		c, _ := r.table.Column(name)
		return c
	}
	return r.outputs[name]
}
