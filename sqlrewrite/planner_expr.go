package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The expression half of the encryption planner: how each use of a
// protected column inside an expression is judged (compared for
// equality, copied, or refused), and which literals and parameters are
// recorded for encryption.

// exprCtx is what consumes an expression: a GROUP BY list, an IS NULL test,
// or anything else, named for the refusal message.
type exprCtx struct {
	group    bool
	nullTest bool
	having   bool // a GROUP BY beside a HAVING phiguard does not evaluate
	name     string
}

var ctxGroup = exprCtx{group: true, name: "GROUP BY or DISTINCT"}

// ctxGroupHaving is a GROUP BY item of a statement with a HAVING that
// phiguard does not evaluate (planner_having.go), which it then does not
// group (planner_group.go): the refusal names it.
var ctxGroupHaving = exprCtx{group: true, having: true, name: "GROUP BY with a HAVING phiguard does not evaluate"}

func ctxOther(name string) exprCtx { return exprCtx{name: name} }

// expr checks every column reference in an expression tree against the
// context it appears in, and collects the values compared with
// deterministic columns.
func (p *planner) expr(n *pg_query.Node, sc *scope, ctx exprCtx) {
	if n == nil || n.GetNode() == nil {
		return
	}
	switch {
	case n.GetColumnRef() != nil:
		p.columnUse(n.GetColumnRef(), sc, ctx)
	case n.GetAExpr() != nil:
		p.operator(n.GetAExpr(), sc)
	case n.GetNullTest() != nil:
		p.expr(n.GetNullTest().GetArg(), sc, exprCtx{nullTest: true, name: "IS NULL"})
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		r := roleValue
		if sl.GetSubLinkType() == pg_query.SubLinkType_EXISTS_SUBLINK {
			r = roleExists
		}
		p.expr(sl.GetTestexpr(), sc, ctxOther("a comparison with a subquery"))
		p.query(sl.GetSubselect(), sc, r)
	case n.GetSelectStmt() != nil:
		p.query(n, sc, roleValue)
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		if p.countOfColumn(fc, sc) {
			return
		}
		p.children(n, sc, ctxOther("function "+funcName(fc)+"()"))
	case n.GetTypeCast() != nil:
		p.expr(n.GetTypeCast().GetArg(), sc, ctxOther("a cast"))
	default:
		p.children(n, sc, ctxOther(string(nodeName(n))))
	}
}

// children plans every Node below n (but not below those Nodes: expr
// recurses itself), reaching through the non-Node messages in between.
func (p *planner) children(n *pg_query.Node, sc *scope, ctx exprCtx) {
	var visit func(m protoreflect.Message, top bool)
	visit = func(m protoreflect.Message, top bool) {
		if node, ok := m.Interface().(*pg_query.Node); ok && !top {
			p.expr(node, sc, ctx)
			return
		}
		rangeFields(m, func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Message() == nil {
				return true
			}
			if fd.IsList() {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					visit(l.Get(i).Message(), false)
				}
				return true
			}
			visit(v.Message(), false)
			return true
		})
	}
	// Start below n's oneof wrapper so n itself is not planned again.
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd != nil && fd.Message() != nil {
		visit(m.Get(fd).Message(), true)
	}
}

// countOfColumn plans count(col) and count(DISTINCT col), which
// PostgreSQL answers on the cells as on the values: a cell is NULL exactly
// where the value is, so count(col) is col's null test; count(DISTINCT
// col) groups like DISTINCT, allowed on a deterministic column only. Its
// FILTER is planned as a WHERE. It returns false, leaving the call to the
// general rule, for anything else: another function, another argument,
// an ORDER BY inside the aggregate, a window.
func (p *planner) countOfColumn(fc *pg_query.FuncCall, sc *scope) bool {
	if name := funcName(fc); name != "count" && name != "pg_catalog.count" {
		return false
	}
	args := fc.GetArgs()
	if len(args) != 1 || args[0].GetColumnRef() == nil || len(fc.GetAggOrder()) > 0 || fc.GetOver() != nil || fc.GetFuncVariadic() {
		return false
	}
	ctx := exprCtx{nullTest: true, name: "count()"}
	if fc.GetAggDistinct() {
		ctx = exprCtx{group: true, name: "count(DISTINCT)"}
	}
	p.columnUse(args[0].GetColumnRef(), sc, ctx)
	p.expr(fc.GetAggFilter(), sc, ctxOther("FILTER"))
	return true
}

func (p *planner) columnUse(ref *pg_query.ColumnRef, sc *scope, ctx exprCtx) {
	kind, col := sc.resolve(ref)
	switch kind {
	case refPlain:
	case refStar, refWholeRow:
		p.refuse(firstColumn(sc), "a whole-row reference in "+ctx.name)
	case refAmbiguous:
		p.refuse(col, "an unqualified column name that could be encrypted (qualify it with its table)")
	case refColumn:
		switch {
		case ctx.nullTest:
		case ctx.group && byCell(col):
		case ctx.group && ctx.having:
			p.refuse(col, notByCell(col, ctx.name))
		case ctx.group:
			p.refuse(col, notByCell(col, "GROUP BY or DISTINCT"))
		default:
			p.refuse(col, ctx.name)
		}
	}
}

// operator plans an A_Expr: equality and IN on deterministic columns are
// rewritten; everything else on a protected column is refused.
func (p *planner) operator(e *pg_query.A_Expr, sc *scope) {
	op := funcNameOf(e.GetName())
	switch e.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		if op == "=" || op == "<>" || op == "!=" {
			p.equality(e, sc, op)
			return
		}
	case pg_query.A_Expr_Kind_AEXPR_IN:
		if col := p.protectedRef(e.GetLexpr(), sc); col != nil {
			if !byCell(col) {
				p.refuse(col, notByCell(col, "IN"))
				return
			}
			first := len(p.plan.Values)
			for _, v := range e.GetRexpr().GetList().GetItems() {
				before := len(p.plan.Values)
				if !p.value(v, col, UseCompare) {
					p.refuse(col, "IN with a computed value")
				}
				p.setForm(before, CompareIn)
			}
			if p.plan.Refusal == nil {
				p.guardIn(col, e, first) // planner_operator_guard.go
			}
			return
		}
		op = "IN"
	case pg_query.A_Expr_Kind_AEXPR_OP_ANY:
		op += " ANY"
	case pg_query.A_Expr_Kind_AEXPR_OP_ALL:
		op += " ALL"
	default: // LIKE, ILIKE, SIMILAR, BETWEEN, DISTINCT, NULLIF, ...
		op = strings.ReplaceAll(strings.TrimPrefix(e.GetKind().String(), "AEXPR_"), "_", " ")
	}
	ctx := ctxOther("operator " + op)
	p.expr(e.GetLexpr(), sc, ctx)
	p.expr(e.GetRexpr(), sc, ctx)
}

func (p *planner) equality(e *pg_query.A_Expr, sc *scope, op string) {
	l, r := e.GetLexpr(), e.GetRexpr()
	lc, rc := p.protectedRef(l, sc), p.protectedRef(r, sc)
	switch {
	case lc == nil && rc == nil:
		ctx := ctxOther("operator " + op)
		p.expr(l, sc, ctx)
		p.expr(r, sc, ctx)
	case lc != nil && rc != nil:
		if !byCell(lc) || !byCell(rc) || lc.Key != rc.Key || !sameCells(lc.Type, rc.Type) {
			p.refuse(lc, "comparing two encrypted columns that do not share a deterministic key and a type")
			return
		}
		p.guardComparison(lc, rc, op, e, -1) // planner_operator_guard.go
	default:
		col, other, form := lc, r, CompareNe
		if op == "=" {
			form = CompareEq
		}
		if col == nil {
			col, other, form = rc, l, CompareOther
		}
		if !byCell(col) {
			p.refuse(col, notByCell(col, op))
			return
		}
		before := len(p.plan.Values)
		if !p.value(other, col, UseCompare) {
			p.refuse(col, op+" with a computed value")
			return
		}
		p.setForm(before, form)
		added := -1
		if len(p.plan.Values) == before+1 {
			added = before
		}
		p.guardComparison(lc, rc, op, e, added) // planner_operator_guard.go
	}
}

// setForm records the form of the literal or parameter value() appended
// after the plan held before values (a NULL appended nothing). A
// parameter also gets its token index, by which the proxy finds it.
func (p *planner) setForm(before int, form CompareForm) {
	if len(p.plan.Values) != before+1 {
		return
	}
	v := &p.plan.Values[before]
	if v.Literal < 0 {
		if form == CompareOther || v.Token < 0 {
			return
		}
	}
	v.Form = form
}

// protectedRef returns the protected column n names, if n is a bare
// column reference to one (an ambiguous name is refused right away).
func (p *planner) protectedRef(n *pg_query.Node, sc *scope) *policy.ProtectedColumn {
	ref := n.GetColumnRef()
	if ref == nil {
		return nil
	}
	kind, col := sc.resolve(ref)
	if kind == refAmbiguous {
		p.refuse(col, "an unqualified column name that could be encrypted (qualify it with its table)")
		return nil
	}
	if kind == refColumn {
		return col
	}
	return nil
}

// value records a literal or parameter to encrypt for col. It returns
// false for anything else, which the caller refuses. NULL needs nothing.
func (p *planner) value(n *pg_query.Node, col *policy.ProtectedColumn, use Use) bool {
	switch {
	case n.GetAConst() != nil:
		c := n.GetAConst()
		if c.GetIsnull() {
			return true
		}
		idx, ok := p.literals[int(c.GetLocation())]
		if !ok { // a negative number, whose constant starts at its sign
			return p.negativeConst(c, col, use)
		}
		return p.addValue(ValueSlot{Literal: idx, Token: -1, Column: col, Use: use})
	case n.GetTypeCast() != nil:
		return p.castConst(n.GetTypeCast(), col, use)
	case n.GetAArrayExpr() != nil:
		return p.arrayConst(n.GetAArrayExpr(), col, use)
	case n.GetParamRef() != nil:
		ref := n.GetParamRef()
		tok := -1
		if use == UseCompare {
			if p.params == nil {
				p.params = paramStarts(p.sql)
			}
			if i, ok := p.params[int(ref.GetLocation())]; ok {
				tok = i
			}
		}
		return p.addValue(ValueSlot{Literal: -1, Param: int(ref.GetNumber()), Token: tok, Column: col, Use: use})
	}
	return false
}

// addValue records a slot; a write into a column sealed per subject takes
// the row's subject, and is refused when the statement does not say it.
func (p *planner) addValue(v ValueSlot) bool {
	if v.Use == UseWrite && v.Column.PerSubject() {
		if p.subject == nil {
			p.refuse(v.Column, fmt.Sprintf(
				"a write whose data subject phiguard cannot tell (%s; its cells are sealed per subject, so give %s as a literal or parameter: in the INSERT's column list, or as %s = value in the UPDATE's WHERE)",
				p.subjectWhy, v.Column.Table.SubjectQualifiedName(), v.Column.Table.SubjectColumn))
			return true
		}
		v.Subject = p.subject
	}
	p.plan.Values = append(p.plan.Values, v)
	return true
}

// subjectValue returns where a subject column's value comes from: a
// non-NULL literal or a parameter; nil for anything else.
func (p *planner) subjectValue(n *pg_query.Node) *SubjectRef {
	switch {
	case n.GetAConst() != nil && !n.GetAConst().GetIsnull():
		if idx, ok := p.literals[int(n.GetAConst().GetLocation())]; ok {
			return &SubjectRef{Literal: idx}
		}
	case n.GetParamRef() != nil:
		return &SubjectRef{Literal: -1, Param: int(n.GetParamRef().GetNumber())}
	}
	return nil
}

func funcName(fc *pg_query.FuncCall) string { return funcNameOf(fc.GetFuncname()) }

func funcNameOf(parts []*pg_query.Node) string {
	names := make([]string, 0, len(parts))
	for _, n := range parts {
		names = append(names, n.GetString_().GetSval())
	}
	return strings.Join(names, ".")
}

func nodeName(n *pg_query.Node) protoreflect.Name {
	m := n.ProtoReflect()
	if fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0)); fd != nil && fd.Message() != nil {
		return fd.Message().Name()
	}
	return "expression"
}

// literalStarts maps each literal's byte offset to its index, indexed as
// LiteralSpans indexes them.
func literalStarts(sql string) map[int]int {
	out := map[int]int{}
	for i, sp := range LiteralSpans([]byte(sql)) {
		out[sp[0]] = i
	}
	return out
}

// scannerSpans finds literals with PostgreSQL's own scanner, for texts the
// shape scanner does not model.
func scannerSpans(sql string) [][2]int {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return nil
	}
	var out [][2]int
	for _, tok := range res.Tokens {
		if literalTokens[tok.Token] {
			out = append(out, [2]int{int(tok.Start), int(tok.End)})
		}
	}
	return out
}

// byCell reports whether col's cells stand for its values in equality:
// deterministic, and of a type whose equal values have one canonical text
// (policy.LogicalType.EqualByText).
func byCell(col *policy.ProtectedColumn) bool {
	return col.Mode == policy.ModeDeterministic && col.Type.EqualByText()
}

// notByCell is the refused construct for what on a column !byCell.
func notByCell(col *policy.ProtectedColumn, what string) string {
	if col.Mode != policy.ModeDeterministic {
		return what + " on a randomized column"
	}
	return what + " on a deterministic " + col.Type.String() + " column (values PostgreSQL calls equal may have different cells)"
}

// sameCells reports whether values of two types that PostgreSQL calls
// equal have one canonical text: one type, two integer types, or text and
// varchar (numeric(10,2) 7.00 = integer 7 has two; text = integer has no
// operator).
func sameCells(a, b policy.LogicalType) bool {
	kind := func(t policy.LogicalType) string {
		switch t.OID {
		case policy.OIDInt2, policy.OIDInt4, policy.OIDInt8:
			return "integer"
		case policy.OIDText, policy.OIDVarchar:
			return "text"
		}
		return t.String()
	}
	return kind(a) == kind(b)
}
