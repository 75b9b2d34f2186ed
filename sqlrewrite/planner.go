package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// PlanFor decides what the proxy must do with an analysed text under a
// policy (see docs/design/encryption-path.md). It is pure and its result
// depends only on the text's shape and the policy, so it can be cached with
// the analysis, keyed by policy version.
//
// It fails closed: a text that did not parse but names no table is left
// alone, one that did not parse is refused when the policy protects
// anything it could touch, and every construct the planner does not model
// on a protected column is refused.
func PlanFor(a *Analysis, pol *policy.Policy) *Plan {
	if pol == nil {
		return &Plan{}
	}
	if a.Err != nil {
		if len(pol.Tables()) == 0 {
			return &Plan{}
		}
		// pg_query is PostgreSQL's own parser, so the backend would most
		// likely reject the text too; but an unanalysed statement must not
		// reach a database with protected tables, so phiguard answers.
		return &Plan{Protected: true, Refusal: &Refusal{Code: pgerr.SyntaxError,
			Construct: "phiguard cannot analyse this statement: " + a.Err.Error()}}
	}
	p := &planner{pol: pol, plan: &Plan{}, sql: a.sql}
	p.literals = literalStarts(a.sql)
	for i, raw := range a.tree.GetStmts() {
		if a.Statements[i].Kind == KindCall && encryptsAnything(pol) {
			// DO and CALL run code phiguard cannot read; with encrypted
			// columns in the database it could write plaintext into them.
			p.plan.Protected = true
			p.plan.Refusal = &Refusal{Code: pgerr.FeatureNotSupported,
				Construct: "DO blocks and CALL run code phiguard cannot analyse, and this database has encrypted columns: run them directly against the database"}
			break
		}
		if !p.touchesProtected(a.Statements[i]) {
			continue
		}
		p.plan.Protected = true
		if p.plan.Copy != nil {
			p.refuseTable(p.plan.Copy.Table, "COPY together with other statements in one query")
		}
		p.statement(raw.GetStmt())
		if p.plan.Copy != nil && len(a.tree.GetStmts()) > 1 && p.plan.Refusal == nil {
			p.refuseTable(p.plan.Copy.Table, "COPY together with other statements in one query")
		}
		if p.plan.Refusal != nil {
			p.plan.Values = nil
			break
		}
	}
	return p.plan
}

// encryptsAnything says whether the policy encrypts any column.
func encryptsAnything(pol *policy.Policy) bool {
	for _, t := range pol.Tables() {
		if len(t.Columns) > 0 {
			return true
		}
	}
	return false
}

type planner struct {
	pol      *policy.Policy
	plan     *Plan
	literals map[int]int // byte offset of a literal → its index among the text's literals
	params   map[int]int // byte offset of a $n token → its index among them; built on first use
	sql      string
	// insertSources is, per output position of an INSERT's SELECT, the
	// protected column it copies (nil for anything else).
	insertSources []*policy.ProtectedColumn
	// subject is where the subject id of the row being written comes
	// from, while planning the values of one INSERT row or one UPDATE;
	// subjectWhy says why it is unknown when it is nil.
	subject    *SubjectRef
	subjectWhy string
}

// sourceColumn is the protected column a select-list entry copies as it
// is, or nil.
func (p *planner) sourceColumn(t *pg_query.ResTarget, sc *scope) *policy.ProtectedColumn {
	ref := t.GetVal().GetColumnRef()
	if ref == nil {
		return nil
	}
	if kind, col := sc.resolve(ref); kind == refColumn {
		return col
	}
	return nil
}

// touchesProtected reports whether a statement names a protected table,
// schema-qualified or not (search_path is not trusted, so a bare name that
// matches a protected table in any schema counts).
func (p *planner) touchesProtected(st Statement) bool {
	for _, t := range st.Tables {
		if p.table(t.Schema, t.Name) != nil {
			return true
		}
	}
	return false
}

func (p *planner) table(schema, name string) *policy.ProtectedTable {
	if schema != "" {
		t, _ := p.pol.Table(schema, name)
		return t
	}
	if ts := p.pol.TablesNamed(name); len(ts) > 0 {
		return ts[0]
	}
	return nil
}

func (p *planner) refuse(col *policy.ProtectedColumn, construct string) {
	if p.plan.Refusal != nil {
		return
	}
	r := &Refusal{Code: pgerr.FeatureNotSupported, Column: col, Construct: construct}
	if col != nil {
		r.Table = col.Table.Name.String()
	}
	p.plan.Refusal = r
}

func (p *planner) refuseTable(t *policy.ProtectedTable, construct string) {
	if p.plan.Refusal == nil {
		p.plan.Refusal = &Refusal{Code: pgerr.FeatureNotSupported, Table: t.Name.String(), Construct: construct}
	}
}

func (p *planner) statement(n *pg_query.Node) {
	switch {
	case n.GetSelectStmt() != nil:
		p.query(n, nil, roleClient)
	case n.GetInsertStmt() != nil:
		p.insert(n.GetInsertStmt())
	case n.GetUpdateStmt() != nil:
		p.update(n.GetUpdateStmt())
	case n.GetDeleteStmt() != nil:
		p.delete(n.GetDeleteStmt())
	case n.GetCopyStmt() != nil:
		p.copyStmt(n.GetCopyStmt())
	default:
		kind := classify(n)
		if kind == KindDDL {
			p.ddl(n)
			return
		}
		p.refuseTable(p.firstProtected(n), kind.String()+" statement")
	}
}

func (p *planner) firstProtected(n *pg_query.Node) *policy.ProtectedTable {
	var found *policy.ProtectedTable
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if rv, ok := m.Interface().(*pg_query.RangeVar); ok && found == nil {
			found = p.table(rv.Schemaname, rv.Relname)
		}
	})
	return found
}

// role is how a query's output columns are consumed, which decides whether
// a protected column may appear bare in its select list.
type role uint8

const (
	roleClient  role = iota // rows go to the client: decrypted via RowDescription origins
	roleDerived             // a FROM subquery or CTE: outputs carry their protection outward
	roleExists              // EXISTS (...): outputs are never looked at
	roleValue               // scalar, IN, ANY, ARRAY subqueries: outputs are used as values
	roleInsert              // the SELECT of INSERT ... SELECT: outputs are stored, by position
)

// query plans a SELECT (or VALUES, or a set operation) and returns the
// protected columns its output exposes by name.
func (p *planner) query(n *pg_query.Node, outer *scope, r role) map[string]*policy.ProtectedColumn {
	s := n.GetSelectStmt()
	if s == nil {
		// A data-modifying WITH (INSERT/UPDATE/DELETE ... RETURNING inside
		// another statement) is not planned yet: refuse it on protected
		// tables rather than let its values through unencrypted.
		if t := p.firstProtected(n); t != nil {
			p.refuseTable(t, "a data-modifying statement inside another statement")
			return nil
		}
		p.expr(n, newScope(outer), ctxOther("subquery"))
		return nil
	}
	sc := newScope(outer)
	p.with(s.GetWithClause(), sc)
	if s.GetOp() != pg_query.SetOperation_SETOP_NONE {
		for _, side := range []*pg_query.SelectStmt{s.GetLarg(), s.GetRarg()} {
			outs := p.query(&pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: side}}, sc, roleDerived)
			for _, c := range outs {
				p.refuse(c, "UNION, INTERSECT or EXCEPT")
			}
		}
		return nil
	}
	for _, row := range s.GetValuesLists() {
		p.expr(row, sc, ctxOther("VALUES"))
	}
	for _, item := range s.GetFromClause() {
		p.fromItem(item, sc, outer)
	}
	outs := map[string]*policy.ProtectedColumn{}
	var positions []*policy.ProtectedColumn
	for _, t := range s.GetTargetList() {
		p.target(t.GetResTarget(), sc, r, outs)
		if r == roleInsert {
			positions = append(positions, p.sourceColumn(t.GetResTarget(), sc))
		}
	}
	if r == roleInsert {
		p.insertSources = positions
	}
	distinct := len(s.GetDistinctClause()) > 0
	for _, d := range s.GetDistinctClause() {
		if d.GetNode() != nil { // DISTINCT ON (exprs)
			p.expr(d, sc, ctxGroup)
		}
	}
	if distinct {
		for _, c := range outs {
			if c.Mode != policy.ModeDeterministic {
				p.refuse(c, "DISTINCT")
			}
		}
	}
	p.expr(s.GetWhereClause(), sc, ctxOther("WHERE"))
	for _, g := range s.GetGroupClause() {
		p.expr(g, sc, ctxGroup)
	}
	p.expr(s.GetHavingClause(), sc, ctxOther("HAVING"))
	for _, o := range s.GetSortClause() {
		p.expr(o.GetSortBy().GetNode(), sc, ctxOther("ORDER BY"))
	}
	p.expr(s.GetLimitCount(), sc, ctxOther("LIMIT"))
	p.expr(s.GetLimitOffset(), sc, ctxOther("OFFSET"))
	for _, w := range s.GetWindowClause() {
		p.expr(w, sc, ctxOther("WINDOW"))
	}
	return outs
}

func (p *planner) with(w *pg_query.WithClause, sc *scope) {
	for _, c := range w.GetCtes() {
		cte := c.GetCommonTableExpr()
		rel := &relation{name: cte.GetCtename()}
		if w.GetRecursive() {
			sc.ctes[rel.name] = rel // the recursive term may name itself
		}
		rel.outputs = p.query(cte.GetCtequery(), sc, roleDerived)
		if len(cte.GetAliascolnames()) > 0 && len(rel.outputs) > 0 {
			p.refuse(anyColumn(rel.outputs), "renaming an encrypted column in a WITH column list")
		}
		sc.ctes[rel.name] = rel
	}
}

// fromItem adds one FROM entry to sc. Non-LATERAL subqueries see only the
// enclosing levels, not their siblings.
func (p *planner) fromItem(n *pg_query.Node, sc, outer *scope) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		name := rv.GetRelname()
		if a := rv.GetAlias(); a != nil {
			name = a.GetAliasname()
		}
		rel := &relation{name: name}
		if cte := sc.cte(rv.GetRelname()); cte != nil && rv.GetSchemaname() == "" {
			rel.outputs = cte.outputs
		} else {
			rel.table = p.table(rv.GetSchemaname(), rv.GetRelname())
		}
		if a := rv.GetAlias(); a != nil && len(a.GetColnames()) > 0 && len(rel.protectedColumns()) > 0 {
			p.refuse(rel.protectedColumns()[0], "renaming columns in a table alias")
		}
		sc.relations = append(sc.relations, rel)
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		p.fromItem(j.GetLarg(), sc, outer)
		p.fromItem(j.GetRarg(), sc, outer)
		if j.GetAlias() != nil {
			for _, r := range sc.relations {
				if len(r.protectedColumns()) > 0 {
					p.refuse(r.protectedColumns()[0], "a JOIN with an alias")
					break
				}
			}
		}
		for _, u := range j.GetUsingClause() {
			if c := sc.columnNamed(u.GetString_().GetSval()); c != nil && c.Mode != policy.ModeDeterministic {
				p.refuse(c, "JOIN USING")
			}
		}
		p.expr(j.GetQuals(), sc, ctxOther("JOIN condition"))
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		see := outer
		if rs.GetLateral() {
			see = sc
		}
		rel := &relation{name: rs.GetAlias().GetAliasname()}
		rel.outputs = p.query(rs.GetSubquery(), see, roleDerived)
		if len(rs.GetAlias().GetColnames()) > 0 && len(rel.outputs) > 0 {
			p.refuse(anyColumn(rel.outputs), "renaming columns in a subquery alias")
		}
		sc.relations = append(sc.relations, rel)
	default: // functions in FROM, XMLTABLE, ...: check their arguments
		p.expr(n, sc, ctxOther("FROM item"))
	}
}

// target plans one select-list entry.
func (p *planner) target(t *pg_query.ResTarget, sc *scope, r role, outs map[string]*policy.ProtectedColumn) {
	val := t.GetVal()
	ref := val.GetColumnRef()
	if ref == nil {
		p.expr(val, sc, ctxOther("an expression in the select list"))
		return
	}
	kind, col := sc.resolve(ref)
	switch kind {
	case refPlain:
		return
	case refAmbiguous:
		p.refuse(col, "an unqualified column name that could be encrypted (qualify it with its table)")
		return
	case refWholeRow:
		p.refuse(firstColumn(sc), "a whole-row reference")
		return
	case refStar:
		if r == roleValue || r == roleInsert {
			p.refuse(firstColumn(sc), "* in a subquery used as a value")
		}
		if r == roleDerived {
			for _, rel := range sc.relations {
				for _, c := range rel.protectedColumns() {
					outs[c.Name] = c
				}
			}
		}
		return
	}
	if r == roleValue {
		p.refuse(col, "using an encrypted column as a subquery's value")
		return
	}
	if r == roleInsert {
		return // checked against its destination by insert()
	}
	name := t.GetName()
	if name == "" {
		fields := ref.GetFields()
		name = fields[len(fields)-1].GetString_().GetSval()
	}
	outs[name] = col
}

func anyColumn(m map[string]*policy.ProtectedColumn) *policy.ProtectedColumn {
	for _, c := range m {
		return c
	}
	return nil
}

func firstColumn(sc *scope) *policy.ProtectedColumn {
	for lvl := sc; lvl != nil; lvl = lvl.parent {
		for _, r := range lvl.relations {
			if cs := r.protectedColumns(); len(cs) > 0 {
				return cs[0]
			}
		}
	}
	return nil
}

// exprCtx is what consumes an expression: a GROUP BY list, an IS NULL test,
// or anything else, named for the refusal message.
type exprCtx struct {
	group    bool
	nullTest bool
	name     string
}

var ctxGroup = exprCtx{group: true, name: "GROUP BY or DISTINCT"}

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
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
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
		case ctx.group && col.Mode == policy.ModeDeterministic:
		case ctx.group:
			p.refuse(col, "GROUP BY or DISTINCT on a randomized column")
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
			p.equality(e.GetLexpr(), e.GetRexpr(), sc, op)
			return
		}
	case pg_query.A_Expr_Kind_AEXPR_IN:
		if col := p.protectedRef(e.GetLexpr(), sc); col != nil {
			if col.Mode != policy.ModeDeterministic {
				p.refuse(col, "IN on a randomized column")
				return
			}
			for _, v := range e.GetRexpr().GetList().GetItems() {
				before := len(p.plan.Values)
				if !p.value(v, col, UseCompare) {
					p.refuse(col, "IN with a computed value")
				}
				p.setForm(before, CompareIn)
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

func (p *planner) equality(l, r *pg_query.Node, sc *scope, op string) {
	lc, rc := p.protectedRef(l, sc), p.protectedRef(r, sc)
	switch {
	case lc == nil && rc == nil:
		ctx := ctxOther("operator " + op)
		p.expr(l, sc, ctx)
		p.expr(r, sc, ctx)
	case lc != nil && rc != nil:
		if lc.Mode != policy.ModeDeterministic || rc.Mode != policy.ModeDeterministic || lc.Key != rc.Key {
			p.refuse(lc, "comparing two encrypted columns that do not share a deterministic key")
		}
	default:
		col, other, form := lc, r, CompareNe
		if op == "=" {
			form = CompareEq
		}
		if col == nil {
			col, other, form = rc, l, CompareOther
		}
		if col.Mode != policy.ModeDeterministic {
			p.refuse(col, op+" on a randomized column")
			return
		}
		before := len(p.plan.Values)
		if !p.value(other, col, UseCompare) {
			p.refuse(col, op+" with a computed value")
		}
		p.setForm(before, form)
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
		if !ok { // e.g. a negative number, whose constant starts at its sign
			return false
		}
		return p.addValue(ValueSlot{Literal: idx, Token: -1, Column: col, Use: use})
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
