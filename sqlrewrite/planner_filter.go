package sqlrewrite

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Proxy-side WHERE (issue 13, docs/search.md). In a top-level SELECT the
// sort path accepts (planner_sort.go), a conjunct of the WHERE that
// compares one encrypted column with a constant or a parameter is taken
// out of the text (sort_filter.go writes `true` in its place) and
// evaluated by the proxy on the decrypted value, on the same held rows as
// a proxy-side ORDER BY, before it sorts and before OFFSET and LIMIT. The
// column comes back as a hidden column, and each constant as a hidden
// column too, so that PostgreSQL gives it its type as it would have in
// the comparison: CASE WHEN false THEN NULL::type ELSE (constant) END
// takes an untyped literal or parameter as the column's type, and a typed
// one as the common type of the two, which it reports with the value
// (pg_typeof); the proxy compares only when that type is one it compares
// as PostgreSQL does (proxy/protect_filter.go).

// FilterOp is the comparison of a Filter.
type FilterOp uint8

const (
	FilterEq FilterOp = iota + 1
	FilterNe
	FilterLt
	FilterLe
	FilterGt
	FilterGe
	FilterBetween
	FilterNotBetween
	FilterBetweenSym
	FilterNotBetweenSym
	FilterDistinct
	FilterNotDistinct
	FilterLike    // text and varchar only; the pattern as like_escape made it
	FilterNotLike //
)

var filterOpNames = map[FilterOp]string{
	FilterEq: "=", FilterNe: "<>", FilterLt: "<", FilterLe: "<=", FilterGt: ">", FilterGe: ">=",
	FilterBetween: "BETWEEN", FilterNotBetween: "NOT BETWEEN", FilterBetweenSym: "BETWEEN SYMMETRIC",
	FilterNotBetweenSym: "NOT BETWEEN SYMMETRIC", FilterDistinct: "IS DISTINCT FROM", FilterNotDistinct: "IS NOT DISTINCT FROM",
	FilterLike: "LIKE", FilterNotLike: "NOT LIKE",
}

func (op FilterOp) String() string { return filterOpNames[op] }

// Like reports whether the comparison is [NOT] LIKE.
func (op FilterOp) Like() bool { return op == FilterLike || op == FilterNotLike }

// Between reports whether the comparison takes two constants.
func (op FilterOp) Between() bool { return op >= FilterBetween && op <= FilterNotBetweenSym }

// Filter is one WHERE conjunct the proxy evaluates: Column Op Args.
type Filter struct {
	Column *policy.ProtectedColumn
	Op     FilterOp
	// Value is the hidden index of the column's cell; Args those of the
	// constants (Args[1] for BETWEEN only), each "oid:text" of the type
	// PostgreSQL gave it; Collation that of the column's collation, -1
	// for a type without one.
	Value, Collation int
	Args             [2]int
	// Escape: the LIKE pattern was written with ESCAPE, which its hidden
	// column applies (like_escape), so the proxy reads a pattern whose
	// escape is the backslash.
	Escape bool
}

// filterCand is a conjunct the planner takes as a Filter.
type filterCand struct {
	col      *policy.ProtectedColumn
	op       FilterOp
	conjunct int  // index among the WHERE's top-level conjuncts
	colRight bool // the column is right of the operator (1 < col)
	escape   bool // LIKE ... ESCAPE
	node     *pg_query.Node
}

// whereFilters plans a top-level SELECT's WHERE: the conjuncts the proxy
// can evaluate are returned, the others planned as expressions (and
// refused as before when they use an encrypted column otherwise). It
// also returns how many top-level conjuncts the WHERE has.
func (p *planner) whereFilters(s *pg_query.SelectStmt, sc *scope, top bool) ([]filterCand, int) {
	where := s.GetWhereClause()
	if !top || where == nil || sortShapeProblem(s, top) != "" || hasAggregateCall(s) {
		p.expr(where, sc, ctxOther("WHERE"))
		return nil, 0
	}
	conjuncts := []*pg_query.Node{where}
	if b := where.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		conjuncts = b.GetArgs()
	}
	var cands []filterCand
	for i, c := range conjuncts {
		if f, ok := p.filterOf(c, sc); ok {
			f.conjunct, f.node = i, c
			cands = append(cands, f)
			continue
		}
		p.expr(c, sc, ctxOther("WHERE"))
	}
	var out []filterCand
	for _, f := range cands {
		if sharedParams(s, f, cands) {
			p.expr(f.node, sc, ctxOther("WHERE")) // refused, as before
			continue
		}
		out = append(out, f)
	}
	return out, len(conjuncts)
}

// sharedParams: a parameter of the filter is also used elsewhere in the
// statement, or in a filter on a column of another type. Its hidden
// column would be the first place PostgreSQL infers its type from, which
// could then differ from the type the client's text gives it.
func sharedParams(s *pg_query.SelectStmt, f filterCand, cands []filterCand) bool {
	inFilters := map[int32]int{}
	for _, c := range cands {
		for _, n := range paramNumbers(c.node) {
			if c.col.Type.OID != f.col.Type.OID {
				inFilters[n] -= 1 << 20 // never equal to the total
			}
			inFilters[n]++
		}
	}
	all := map[int32]int{}
	for _, n := range paramNumbers(s) {
		all[n]++
	}
	for _, n := range paramNumbers(f.node) {
		if inFilters[n] != all[n] {
			return true
		}
	}
	return false
}

// paramNumbers lists the $n in a tree, one entry per occurrence.
func paramNumbers(m interface{ ProtoReflect() protoreflect.Message }) []int32 {
	var out []int32
	walk(m.ProtoReflect(), func(m protoreflect.Message) {
		if ref, ok := m.Interface().(*pg_query.ParamRef); ok {
			out = append(out, ref.GetNumber())
		}
	})
	return out
}

// filterOf says whether a conjunct is a comparison of one encrypted
// column with constants that the database cannot evaluate on its cells
// (= and <> on a deterministic column it can, and keeps).
func (p *planner) filterOf(n *pg_query.Node, sc *scope) (filterCand, bool) {
	e := n.GetAExpr()
	if e == nil {
		return filterCand{}, false
	}
	l, r := e.GetLexpr(), e.GetRexpr()
	var f filterCand
	switch e.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		names := e.GetName()
		if len(names) != 1 {
			return f, false
		}
		op, ok := map[string]FilterOp{"=": FilterEq, "<>": FilterNe, "!=": FilterNe, "<": FilterLt,
			"<=": FilterLe, ">": FilterGt, ">=": FilterGe}[names[0].GetString_().GetSval()]
		if !ok {
			return f, false
		}
		f.op = op
	case pg_query.A_Expr_Kind_AEXPR_LIKE:
		return p.likeFilter(e, sc)
	case pg_query.A_Expr_Kind_AEXPR_DISTINCT:
		f.op = FilterDistinct
	case pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		f.op = FilterNotDistinct
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		f.op = map[pg_query.A_Expr_Kind]FilterOp{pg_query.A_Expr_Kind_AEXPR_BETWEEN: FilterBetween,
			pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN: FilterNotBetween, pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM: FilterBetweenSym,
			pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM: FilterNotBetweenSym}[e.GetKind()]
		items := r.GetList().GetItems()
		if len(items) != 2 || !filterConst(items[0]) || !filterConst(items[1]) {
			return f, false
		}
		f.col = p.filterColumn(l, sc)
		return f, f.col != nil && p.filterable(f.col)
	default:
		return f, false
	}
	if f.col = p.filterColumn(l, sc); f.col == nil {
		f.col, f.colRight, l = p.filterColumn(r, sc), true, r
		r = e.GetLexpr()
	}
	if f.col == nil || !filterConst(r) {
		return f, false
	}
	if f.colRight { // 1 < col is col > 1
		if m, ok := map[FilterOp]FilterOp{FilterLt: FilterGt, FilterLe: FilterGe, FilterGt: FilterLt, FilterGe: FilterLe}[f.op]; ok {
			f.op = m
		}
	}
	if (f.op == FilterEq || f.op == FilterNe) && byCell(f.col) {
		return f, false // the database compares its cells, as before
	}
	return f, p.filterable(f.col)
}

// likeFilter: col [NOT] LIKE pattern [ESCAPE e] on a text or varchar
// column (bpchar pads, and LIKE sees the padding), with constants.
// PostgreSQL's grammar writes ESCAPE as like_escape(pattern, e).
func (p *planner) likeFilter(e *pg_query.A_Expr, sc *scope) (filterCand, bool) {
	f := filterCand{op: FilterLike}
	if funcNameOf(e.GetName()) == "!~~" {
		f.op = FilterNotLike
	}
	f.col = p.filterColumn(e.GetLexpr(), sc)
	if f.col == nil || (f.col.Type.OID != policy.OIDText && f.col.Type.OID != policy.OIDVarchar) {
		return f, false
	}
	r := e.GetRexpr()
	if fc := r.GetFuncCall(); fc != nil {
		args := fc.GetArgs()
		f.escape = funcName(fc) == "pg_catalog.like_escape" && len(args) == 2 && filterConst(args[0]) && filterConst(args[1])
		return f, f.escape
	}
	return f, filterConst(r)
}

// filterColumn is the encrypted column n names, when n is a column
// reference to one.
func (p *planner) filterColumn(n *pg_query.Node, sc *scope) *policy.ProtectedColumn {
	ref := n.GetColumnRef()
	if ref == nil {
		return nil
	}
	if kind, col := sc.resolve(ref); kind == refColumn {
		return col
	}
	return nil
}

// filterable takes the conjunct as a filter: the column's type is one
// the proxy compares as PostgreSQL does, or the statement is refused
// naming the type (rather than the operator, as an expression would be).
func (p *planner) filterable(col *policy.ProtectedColumn) bool {
	if _, ok := filterTypeName(col.Type); !ok {
		p.refuse(col, "WHERE comparing a column of type "+col.Type.String()+" (phiguard does not compare it)")
	}
	return true
}

// filterTypeName is the SQL name of the type whose NULL gives a
// constant its type: the column's, but text for varchar, which has no
// comparison operators of its own (PostgreSQL types a parameter
// compared with a varchar column as text). real and double precision are not compared:
// PostgreSQL compares a real column with a numeric constant as double
// precision, which a real constant would not be, and prints a double
// precision value rounded under extra_float_digits below 1.
func filterTypeName(t policy.LogicalType) (string, bool) {
	if !sortableType(t) {
		return "", false
	}
	name, ok := map[uint32]string{policy.OIDBool: "bool", policy.OIDInt2: "int2", policy.OIDInt4: "int4",
		policy.OIDInt8: "int8", policy.OIDNumeric: "numeric",
		policy.OIDText: "text", policy.OIDVarchar: "text", policy.OIDBpchar: "bpchar", policy.OIDDate: "date",
		policy.OIDTimestamp: "timestamp", policy.OIDTimestamptz: "timestamptz", policy.OIDTime: "time",
		policy.OIDInterval: "interval", policy.OIDUUID: "uuid", policy.OIDBytea: "bytea"}[t.OID]
	return "pg_catalog." + name, ok
}

// filterConst: a constant (NULL included), a parameter, either cast
// ('2024-01-01'::date, CAST($1 AS int), DATE '2024-01-01') or signed: what
// PostgreSQL evaluates the same on every row. Not COLLATE, which would
// change the comparison's collation.
func filterConst(n *pg_query.Node) bool {
	switch {
	case n.GetAConst() != nil, n.GetParamRef() != nil:
		return true
	case n.GetTypeCast() != nil:
		return filterConst(n.GetTypeCast().GetArg())
	case n.GetAExpr() != nil: // a sign before a cast: -10.25::numeric
		e := n.GetAExpr()
		names := e.GetName()
		return e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && e.GetLexpr() == nil && len(names) == 1 &&
			(names[0].GetString_().GetSval() == "-" || names[0].GetString_().GetSval() == "+") && filterConst(e.GetRexpr())
	}
	return false
}

// aggregateNames are the built-in aggregates a select list may hold
// without any mark of one (FILTER, DISTINCT, ORDER BY, *).
var aggregateNames = map[string]bool{"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"array_agg": true, "string_agg": true, "bool_and": true, "bool_or": true, "every": true, "json_agg": true,
	"jsonb_agg": true, "json_object_agg": true, "jsonb_object_agg": true, "xmlagg": true, "bit_and": true,
	"bit_or": true, "bit_xor": true, "stddev": true, "stddev_pop": true, "stddev_samp": true, "variance": true,
	"var_pop": true, "var_samp": true, "corr": true, "covar_pop": true, "covar_samp": true, "range_agg": true}

// hasAggregateCall: the select list aggregates, so the rows the database
// returns are not the rows the WHERE selects. (An aggregate phiguard
// does not know by name fails in PostgreSQL: the hidden column would
// be neither grouped nor aggregated.)
func hasAggregateCall(s *pg_query.SelectStmt) bool {
	found := false
	for _, t := range s.GetTargetList() {
		walk(t.ProtoReflect(), func(m protoreflect.Message) {
			fc, ok := m.Interface().(*pg_query.FuncCall)
			if !ok || fc.GetOver() != nil {
				return
			}
			name := fc.GetFuncname()[len(fc.GetFuncname())-1].GetString_().GetSval()
			if fc.GetAggStar() || fc.GetAggDistinct() || len(fc.GetAggOrder()) > 0 || fc.GetAggFilter() != nil || aggregateNames[name] {
				found = true
			}
		})
	}
	return found
}

// filterString describes a plan's filters for golden tests.
func filterString(fs []Filter) string {
	s := ""
	for i, f := range fs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %s #%d", f.Column.QualifiedName(), f.Op, f.Args[0])
		if f.Op.Like() && f.Escape {
			s += " (with its ESCAPE)"
		}
		if f.Op.Between() {
			s += fmt.Sprintf(" AND #%d", f.Args[1])
		}
		s += fmt.Sprintf(" (#%d)", f.Value)
	}
	return s
}

// addFilters lays out the hidden columns of the filters: the column, each
// constant, and a text column's collation.
func (sp *SortPlan) addFilters(cands []filterCand, conjuncts int) {
	add := func(h hiddenColumn) int {
		sp.hidden = append(sp.hidden, h)
		return len(sp.hidden) - 1
	}
	for i, c := range cands {
		f := Filter{Column: c.col, Op: c.op, Collation: -1, Args: [2]int{-1, -1}, Escape: c.escape}
		f.Value = add(hiddenColumn{kind: hiddenFilterColumn, from: i, col: c.col})
		f.Args[0] = add(hiddenColumn{kind: hiddenFilterArg, from: i, col: c.col})
		if c.op.Between() {
			f.Args[1] = add(hiddenColumn{kind: hiddenFilterArg, from: i, to: 1, col: c.col})
		}
		if textType(c.col.Type) {
			f.Collation = add(hiddenColumn{kind: hiddenCollation, col: c.col})
		}
		sp.Filters = append(sp.Filters, f)
	}
	sp.cands, sp.conjuncts = cands, conjuncts
	sp.Hidden = len(sp.hidden)
}
