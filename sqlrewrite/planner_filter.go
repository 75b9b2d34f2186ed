package sqlrewrite

import (
	"fmt"
	"slices"

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
// column comes back as a hidden column. The constants never reach the
// database: the conjunct's text is gone from what is sent, and the plan
// says where each constant is (FilterArg: a literal of the client's
// text, a parameter, NULL, with its cast and sign), so that the proxy
// reads it itself, as PostgreSQL's input function would, and compares
// only when PostgreSQL would compare in the column's type
// (guard/filter_args.go).

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
	FilterLike     // text and varchar only; the pattern as like_escape made it
	FilterNotLike  //
	FilterILike    // LIKE on lower() of both sides (planner_filter_fold.go)
	FilterNotILike //
)

var filterOpNames = map[FilterOp]string{
	FilterEq: "=", FilterNe: "<>", FilterLt: "<", FilterLe: "<=", FilterGt: ">", FilterGe: ">=",
	FilterBetween: "BETWEEN", FilterNotBetween: "NOT BETWEEN", FilterBetweenSym: "BETWEEN SYMMETRIC",
	FilterNotBetweenSym: "NOT BETWEEN SYMMETRIC", FilterDistinct: "IS DISTINCT FROM", FilterNotDistinct: "IS NOT DISTINCT FROM",
	FilterLike: "LIKE", FilterNotLike: "NOT LIKE", FilterILike: "ILIKE", FilterNotILike: "NOT ILIKE",
}

func (op FilterOp) String() string { return filterOpNames[op] }

// Like reports whether the comparison matches a pattern: [NOT] LIKE or
// [NOT] ILIKE.
func (op FilterOp) Like() bool { return op >= FilterLike && op <= FilterNotILike }

// Not reports whether a pattern match is negated (NOT LIKE, NOT ILIKE).
func (op FilterOp) Not() bool { return op == FilterNotLike || op == FilterNotILike }

// Orders reports whether the comparison orders values (a range or
// BETWEEN), which under a language's collation needs that collation;
// equality and LIKE compare bytes under any deterministic one.
func (op FilterOp) Orders() bool {
	switch op {
	case FilterEq, FilterNe, FilterDistinct, FilterNotDistinct, FilterLike, FilterNotLike:
		return false
	}
	return true
}

// Between reports whether the comparison takes two constants.
func (op FilterOp) Between() bool { return op >= FilterBetween && op <= FilterNotBetweenSym }

// Filter is one WHERE conjunct the proxy evaluates: Column Op Args.
type Filter struct {
	Column *policy.ProtectedColumn
	Op     FilterOp
	// Value is the hidden index of the column's cell; Collation that of
	// the column's collation, -1 for a type without one; Encoding, for
	// LIKE, that of the database's encoding, -1 otherwise.
	Value, Collation, Encoding int
	// Selected is 1 + the select-list entry that already holds the
	// column's cell (the same bare column reference, with no * before
	// it), for a filter of the WHERE's own conjuncts, and Value is then
	// -1; 0 (the zero value) when the cell is a hidden column. A WHERE on
	// a selected column (last ILIKE 'gle%' beside SELECT last) sent every
	// candidate's cell twice.
	Selected int
	// ColumnFold is a lower() or upper() around the column; Ctype the
	// hidden index of the LC_CTYPE probe of the column's collation (for
	// ColumnFold and ILIKE), DefaultCtype of the database's default (for
	// a folded constant); -1 when there is none (planner_filter_fold.go).
	ColumnFold          Fold
	Ctype, DefaultCtype int
	// Args are the constants (Args[1] for BETWEEN only).
	Args [2]FilterArg
	// Escape is a LIKE's ESCAPE constant, when it has one (HasEscape):
	// the proxy applies it as like_escape does.
	Escape    FilterArg
	HasEscape bool
	// Group is 0 for a conjunct of the statement's WHERE; g > 0 for one
	// of the WHERE of the g-th IN or EXISTS subquery phiguard evaluates
	// (planner_subfilter.go), whose Value is then the hidden array of the
	// column's cells that the subquery's rows hold: a row passes when
	// one cell passes every filter of its group; with GroupNot (NOT IN,
	// NOT EXISTS), when none does.
	Group    int
	GroupNot bool
	Term     TermKind // the search term whose conjunct the database gets beside it (planner_terms.go)
	// Having marks a HAVING's comparison of min or max of Column, which
	// the proxy evaluates on a group's aggregate, not on rows; its Value
	// is -1 (planner_having_minmax.go).
	Having bool
	// Tree is 0 for a filter that is a conjunct (or in a subquery); t > 0
	// for a leaf of Trees[t-1], a conjunct with OR or NOT above filters,
	// which the proxy evaluates as a whole (planner_filter_tree.go).
	Tree int

	// Ref names, for a filter of the WHERE's own conjuncts (Group 0, Tree
	// 0), the column reference it reads (1, 2, …; 0 otherwise): two such
	// filters with the same Ref read the same cell of a row, the same
	// column of one relation of the FROM written with the same qualifier,
	// while a self-join's a.name and b.name, which share Column, get
	// two. A filter whose reference phiguard could not name gets one of
	// its own (planner_filter_layout.go).
	Ref int

	// GroupCells is how many cells a row of the group's array holds (1:
	// the array is one-dimensional), GroupCell the one this filter tests
	// (planner_subfilter_cells.go).
	GroupCell, GroupCells int
}

// FilterArg is where a filter's constant is in the client's statement:
// a literal (an index into the text's literals, LiteralSpans), a
// parameter $Param, NULL, or the keyword TRUE or FALSE; Type is the OID
// of the type it is cast to (0: none, an untyped constant); Negative
// says a minus sign applies to it (above the cast, or to a number);
// Fold a lower() or upper() around it (a text constant only).
type FilterArg struct {
	Literal  int
	Param    int
	Null     bool
	Bool     string // "t" or "f" for TRUE or FALSE
	Type     uint32
	Negative bool
	Fold     Fold
	// litType is a literal number's type as PostgreSQL gives it (int4,
	// int8 or numeric by its size), or a bit string's (B'..', X'..'); 0
	// for a quoted literal, which takes the type of what it is compared
	// with (planner_shadow_exact.go).
	litType uint32
	// typeName is the cast's type as written when without a schema
	// (date, int4, text): the first of that name along search_path,
	// pg_temp's before pg_catalog's unless search_path names pg_temp, so
	// the gate checks it is pg_catalog's (argChecks).
	typeName string
	// sign: a + or - above the constant that PostgreSQL calls as a prefix
	// operator, resolved by name (its grammar folds only a number's
	// minus into the number): the gate checks that no prefix + or - outside
	// pg_catalog is visible (prefixCondition).
	sign bool
}

// String describes the constant for golden tests.
func (a FilterArg) String() string {
	s := ""
	switch {
	case a.Null:
		s = "NULL"
	case a.Bool != "":
		s = a.Bool
	case a.Param > 0:
		s = fmt.Sprintf("$%d", a.Param)
	default:
		s = fmt.Sprintf("literal #%d", a.Literal)
	}
	if a.Negative {
		s = "-" + s
	}
	if a.Type != 0 {
		s += fmt.Sprintf("::%d", a.Type)
	}
	return a.Fold.Wrap(s)
}

// filterCand is a conjunct the planner takes as a Filter.
type filterCand struct {
	col      *policy.ProtectedColumn
	fold     Fold // lower() or upper() around the column
	op       FilterOp
	conjunct int  // index among the WHERE's top-level conjuncts
	colRight bool // the column is right of the operator (1 < col)
	escape   bool // LIKE ... ESCAPE
	node     *pg_query.Node
	args     [3]FilterArg // the constants; [2] the ESCAPE's
	// group is the IN or EXISTS conjunct whose subquery's WHERE holds
	// the filter (conjunct indexes that WHERE's conjuncts), or nil
	// (planner_subfilter.go).
	group *subGroup
	whole bool // the filter is a whole conjunct of the WHERE (a term may stand for it, planner_terms.go)
	// tree is the conjunct's tree when the filter is a leaf of one (leaf),
	// under OR or NOT (planner_filter_tree.go), or nil.
	tree, leaf *boolCand
}

// whereFilters plans a top-level SELECT's WHERE: the conjuncts the proxy
// can evaluate are returned, the others planned as expressions (and
// refused as before when they use an encrypted column otherwise). It
// also returns how many top-level conjuncts the WHERE has.
func (p *planner) whereFilters(s *pg_query.SelectStmt, sc *scope, top bool) ([]filterCand, int) {
	where := s.GetWhereClause()
	if !top || where == nil || !p.aggregating && (sortShapeProblem(s, top) != "" || hasAggregateCall(s)) {
		p.expr(where, sc, ctxOther("WHERE"))
		return nil, 0
	}
	conjuncts := []*pg_query.Node{where}
	if b := where.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		conjuncts = b.GetArgs()
	}
	p.filtered = s // its probes are counted into the SortPlan (scope_probe.go)
	var cands []filterCand
	for i, c := range conjuncts {
		if f, ok := p.filterOf(c, sc); ok {
			f.conjunct, f.node, f.whole = i, c, true
			cands = append(cands, f)
			continue
		}
		if fs, ok := p.subqueryFilters(c, sc, i); ok { // planner_subfilter.go
			cands = append(cands, fs...)
			continue
		}
		if fs, ok := p.treeFilters(c, sc, i); ok { // planner_filter_tree.go
			cands = append(cands, fs...)
			continue
		}
		p.expr(c, sc, ctxOther("WHERE"))
	}
	var out []filterCand
	for _, f := range cands {
		if sharedParams(s, f, cands) && f.group != nil {
			p.refuse(f.col, "a WHERE inside a subquery whose parameter is also used elsewhere in the statement")
			continue
		}
		if sharedParams(s, f, cands) && f.tree != nil {
			p.refuse(f.col, "a WHERE under OR or NOT whose parameter is also used elsewhere in the statement")
			continue
		}
		if sharedParams(s, f, cands) {
			p.expr(f.node, sc, ctxOther("WHERE")) // refused, as before
			continue
		}
		out = append(out, f)
	}
	p.refuseComputedSelectList(s, out) // planner_filter_select.go
	return out, len(conjuncts)
}

// sharedParams: a parameter of the filter is also used elsewhere in the
// statement, or in a filter on a column of another type. The database
// gets NULL in its place (the proxy reads its value), so it must need it
// nowhere; and one parameter has one type.
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
		if _, ok := likeOps[names[0].GetString_().GetSval()]; ok {
			return p.likeFilter(e, sc)
		}
		op, ok := map[string]FilterOp{"=": FilterEq, "<>": FilterNe, "!=": FilterNe, "<": FilterLt,
			"<=": FilterLe, ">": FilterGt, ">=": FilterGe}[names[0].GetString_().GetSval()]
		if !ok {
			return f, false
		}
		f.op = op
	case pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE:
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
		if len(items) != 2 || !p.filterArgs(&f, items...) {
			return f, false
		}
		f.col, f.fold = p.filterTarget(l, sc)
		return f, f.col != nil && f.foldable() && p.filterable(f.col)
	default:
		return f, false
	}
	if f.col, f.fold = p.filterTarget(l, sc); f.col == nil {
		f.col, f.fold = p.filterTarget(r, sc)
		f.colRight, l = true, r
		r = e.GetLexpr()
	}
	if f.col == nil || !p.filterArgs(&f, r) {
		return f, false
	}
	if f.colRight { // 1 < col is col > 1
		if m, ok := map[FilterOp]FilterOp{FilterLt: FilterGt, FilterLe: FilterGe, FilterGt: FilterLt, FilterGe: FilterLe}[f.op]; ok {
			f.op = m
		}
	}
	if (f.op == FilterEq || f.op == FilterNe) && byCell(f.col) && !f.folds() && !p.having {
		return f, false // the database compares its cells, as before
	}
	return f, f.foldable() && p.filterable(f.col)
}

// likeFilter: col [NOT] LIKE|ILIKE pattern [ESCAPE e] (or the operator
// spelled out, ~~ !~~ ~~* !~~*) on a text or varchar column (bpchar
// pads, and LIKE sees the padding), or lower()/upper() of one, with
// constants. PostgreSQL's grammar writes ESCAPE as like_escape(pattern, e).
func (p *planner) likeFilter(e *pg_query.A_Expr, sc *scope) (filterCand, bool) {
	f := filterCand{op: likeOps[funcNameOf(e.GetName())]}
	f.col, f.fold = p.filterTarget(e.GetLexpr(), sc)
	if f.op == 0 || f.col == nil || (f.col.Type.OID != policy.OIDText && f.col.Type.OID != policy.OIDVarchar) {
		return f, false
	}
	r := e.GetRexpr()
	if fc := r.GetFuncCall(); fc != nil && funcName(fc) == "pg_catalog.like_escape" && e.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP {
		args := fc.GetArgs()
		f.escape = len(args) == 2 && p.filterArgs(&f, args[0], args[1])
		f.args[2], f.args[1] = f.args[1], FilterArg{Literal: -1}
		return f, f.escape && f.args[2].Fold == FoldNone
	}
	return f, p.filterArgs(&f, r)
}

// filterArgs records where a filter's constants are (f.args), or says
// that one is not a constant phiguard reads.
func (p *planner) filterArgs(f *filterCand, nodes ...*pg_query.Node) bool {
	for i, n := range nodes {
		a, ok := p.filterArg(n)
		if !ok {
			return false
		}
		f.args[i] = a
	}
	return true
}

// filterArg is where a constant is: a literal, NULL, TRUE/FALSE or a
// parameter, under at most one cast to a type phiguard knows (without a
// modifier: '…'::varchar(3) truncates) and signs. A sign under the cast
// applies to a number only (-'5' has no type to negate in).
func (p *planner) filterArg(n *pg_query.Node) (FilterArg, bool) {
	a := FilterArg{Literal: -1}
	under := false // a sign under the cast
	for {
		switch {
		case n.GetTypeCast() != nil:
			tc := n.GetTypeCast()
			lt, ok := castType(tc.GetTypeName())
			if !ok || a.Type != 0 || lt.IsArray() {
				return a, false
			}
			a.Type, n = lt.OID, n.GetTypeCast().GetArg()
			if names := tc.GetTypeName().GetNames(); len(names) == 1 {
				a.typeName = names[0].GetString_().GetSval()
			}
		case n.GetAExpr() != nil:
			e := n.GetAExpr()
			names := e.GetName()
			if e.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || e.GetLexpr() != nil || len(names) != 1 {
				return a, false
			}
			a.sign = true
			switch names[0].GetString_().GetSval() {
			case "-":
				a.Negative, under = !a.Negative, under || a.Type != 0
			case "+":
			default:
				return a, false
			}
			n = e.GetRexpr()
		case n.GetFuncCall() != nil:
			if fold, inner := foldOf(n); fold != FoldNone && a.Type == 0 && !a.Negative {
				return p.foldedArg(fold, inner)
			}
			return a, false
		case n.GetParamRef() != nil:
			a.Param = int(n.GetParamRef().GetNumber())
			return a, !a.Negative || a.Type != 0 && !under
		case n.GetAConst() != nil:
			return p.filterConstArg(n.GetAConst(), a, under)
		default:
			return a, false
		}
	}
}

// filterConstArg completes a FilterArg with the constant c.
func (p *planner) filterConstArg(c *pg_query.A_Const, a FilterArg, under bool) (FilterArg, bool) {
	switch {
	case c.GetIsnull():
		a.Null = true
		return a, true
	case c.GetBoolval() != nil:
		a.Bool = map[bool]string{true: "t", false: "f"}[c.GetBoolval().GetBoolval()]
		return a, !a.Negative
	}
	number := c.GetIval() != nil || c.GetFval() != nil
	if a.Negative && !number && (a.Type == 0 || under) {
		return a, false
	}
	idx, ok := p.literals[int(c.GetLocation())]
	if !ok { // a negative number, whose constant starts at its sign
		slot, ok := p.signedLiteral(int(c.GetLocation()))
		if !ok {
			return a, false
		}
		idx, a.Negative = slot.Literal, !a.Negative
	}
	a.Literal = idx
	switch {
	case number:
		a.litType = numberType(c)
	case c.GetBsval() != nil:
		a.litType = oidBit // not an untyped literal: bit, for which pg_catalog has no comparison with text
	}
	return a, true
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

// ReadsEncryptedFields says whether the proxy reads a field of the result
// as an encrypted column's: a key, a filter of the statement's own WHERE,
// an aggregate's argument, a DISTINCT key. A plan without (one whose
// filters are all in subqueries, read from arrays of cells) runs on a
// result without encrypted fields.
func (sp *SortPlan) ReadsEncryptedFields() bool {
	for _, k := range append(slices.Clone(sp.Keys), sp.Distinct...) {
		if k.Column != nil {
			return true
		}
	}
	for _, f := range sp.Filters {
		if f.Group == 0 {
			return true
		}
	}
	return len(sp.Aggregates) > 0
}
