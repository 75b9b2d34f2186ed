package sqlrewrite

import (
	"strings"
	"sync/atomic"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Proxy-side ORDER BY (issue 13). PostgreSQL cannot order a column by its
// cells, so a top-level SELECT whose ORDER BY names an encrypted column is
// sent without its ORDER BY and LIMIT/OFFSET, with hidden result columns
// appended that carry what the proxy needs to sort the rows itself:
//
//   - each encrypted key as the bare column, which the proxy decrypts like
//     any selected column;
//   - each run of consecutive plaintext keys as the rank PostgreSQL gives
//     the row under those keys (dense_rank() OVER (ORDER BY the keys as
//     written, text-cast)), so their types, collations, directions, NULLS
//     and USING operators keep PostgreSQL's own semantics;
//   - for an encrypted text key, the collation of its column (a scalar
//     subquery PostgreSQL runs once), since phiguard compares text by
//     bytes and refuses any collation that does not;
//   - LIMIT and OFFSET as text-cast int8, evaluated by PostgreSQL.
//
// The proxy buffers the whole result, sorts it stably, applies OFFSET and
// LIMIT, and drops the hidden columns (guard/protect_sort.go).

// SortPlan is how the proxy evaluates a statement's ORDER BY.
type SortPlan struct {
	// Keys are the sort keys in order; Column is nil for a rank of
	// plaintext keys (compared ascending as an integer).
	Keys []SortKey
	// Hidden is how many columns the rewrite appends after the client's.
	Hidden int
	// Limit and Offset are the hidden indexes of LIMIT and OFFSET; -1 for
	// none.
	Limit, Offset int
	// hidden lists what each hidden column is, for the rewrite.
	hidden []hiddenColumn
	// textGuards are the plan's Operators placed in the client's text as
	// well as in the gate GateWhere writes (Plan.TextGuards,
	// sortedPlacements).
	textGuards []OperatorGuard
	// items is, per ORDER BY item, the select-list entry it names (an
	// ordinal or an output name), or -1.
	items []int
	// labelled says, per select-list entry, whether it has a name (AS x),
	// which the rewrite cuts off when it copies the entry's expression.
	labelled []bool
	// Filters are the WHERE conjuncts the proxy evaluates on each row
	// before it sorts (planner_filter.go); cands says where each is in
	// the text, and conjuncts how many top-level conjuncts the WHERE has.
	Filters   []Filter
	cands     []filterCand
	conjuncts int
	probes    int // lack probes the plan puts first in it (scope_probe.go), which the cut skips
	// groups are the IN and EXISTS conjuncts whose subqueries hold
	// filters (Filter.Group - 1 indexes them; planner_subfilter.go).
	groups []*subGroup
	// Trees are the WHERE conjuncts with OR or NOT above filters, which
	// the proxy evaluates whole (Filter.Tree - 1 indexes them); plain
	// their plaintext leaves, each a hidden column of its truth
	// (planner_filter_tree.go).
	Trees []*BoolNode
	plain []*boolCand
	// Having is a grouped statement's HAVING, which the proxy evaluates
	// per group; HavingHidden the hidden columns its leaves read (from a
	// group's first row), havingLeaves where each is (planner_having.go).
	Having       *BoolNode
	HavingHidden []int
	havingLeaves []*boolCand
	// Distinct are the keys of a DISTINCT phiguard evaluates, removing
	// duplicate rows before it sorts (planner_distinct.go): an encrypted
	// select-list entry (Target), or the rank of the plaintext ones
	// (Value); Collation is the hidden index of a text column's
	// determinism probe. The text sent is without its DISTINCT.
	Distinct []SortKey
	// Aggregates are the select list of a statement whose aggregates
	// phiguard computes (planner_aggregate.go): the text sent has each
	// replaced by its argument, and phiguard sends one row.
	Aggregates []Aggregate
	// Grouped says the Distinct keys are a GROUP BY's, which phiguard
	// evaluates, computing the Aggregates per group (planner_group.go).
	Grouped bool
	// Shadow are the probes of operators and aggregates phiguard
	// evaluates that PostgreSQL might resolve elsewhere (planner_shadow.go).
	Shadow []ShadowProbe
	// Rounds says how the database serves the ORDER BY and LIMIT through
	// an order term (sort_rounds.go); nil: one round, no ORDER BY.
	Rounds *RoundPlan
	// analysedFirst are the protected tables the statement's WITH and
	// FROM name (directly, or under a subquery or CTE they hold), which
	// PostgreSQL locks while it analyses them, before the select list
	// where the hidden columns are: a collation probe of such a table's
	// column may read the column's collation from its row type
	// (collationProbe).
	analysedFirst []*policy.ProtectedTable
	// lastRewrite is RewriteSort's memo (sort_rewrite.go), lastTerms
	// RewriteSortTerms' and RewriteSortRounds' (sort_terms.go).
	lastRewrite, lastTerms atomic.Pointer[sortRewriteMemo]
}

// SortKey is one key of a SortPlan.
type SortKey struct {
	Column     *policy.ProtectedColumn // nil: a rank PostgreSQL computed
	Desc       bool
	NullsFirst bool
	Value      int // hidden index of the key's value, when Target < 0
	// Target is the select-list entry that already holds an encrypted
	// key's value (the same column reference, with no * before it); -1
	// when the key is a hidden column.
	Target    int
	Collation int // hidden index of the column's collation; -1 for a non-text type
	// Agg is 1 + the index in Aggregates of the aggregate a grouped
	// statement's key is, computed per group (planner_group.go); Column
	// is then a min's or max's argument, nil for a count; 0 for a key
	// read from each row.
	Agg int
}

type hiddenKind uint8

const (
	hiddenColumnKey hiddenKind = iota // an encrypted key, as the column itself
	hiddenRank                        // dense_rank over items[from:to]
	hiddenCollation                   // the collation of col
	hiddenLimit
	hiddenOffset
	hiddenFilterColumn  // the column of filter from
	hiddenEncoding      // the database's encoding, for LIKE
	hiddenCtype         // the LC_CTYPE of col's collation (nil: the default), for case folding
	hiddenDistinctRank  // dense_rank over the select-list entries targets
	hiddenDeterministic // whether col's collation is deterministic
	hiddenShadow        // whether an operator or aggregate outside pg_catalog may be called (planner_shadow.go)
	hiddenSubArray      // the cells of col in the rows of subquery group from (planner_subfilter.go)
	hiddenBoolLeaf      // the truth of plaintext leaf from of a WHERE tree (planner_filter_tree.go)
	hiddenHaving        // leaf from of a HAVING: a count's constant or a plaintext leaf's truth (planner_having.go)
)

type hiddenColumn struct {
	kind     hiddenKind
	from, to int // ORDER BY items
	col      *policy.ProtectedColumn
	calls    bool  // hiddenCtype: also whether lower()/upper() are pg_catalog's
	targets  []int // select-list entries
	// hiddenShadow: the aggregates' probe (else the operators'), and the
	// first-operand types it looks for.
	aggregates bool
	types      []uint32
	// exact: the operators' probe's operators by their exact operand
	// types, when every one is known (planner_shadow_exact.go).
	exact []exactOp
	// casts: the cast types the WHERE's constants name without a schema,
	// which the gate checks are pg_catalog's (argChecks).
	casts []castName
	// signs: a constant is under a prefix + or -, which the gate checks
	// is pg_catalog's (prefixCondition).
	signs bool
	// native is a one-key rank's key when it can only be a column of a
	// protected table: sent as its value if that is an integer
	// (sort_native.go).
	native *tableColumn
	// arrival: the rank of the ORDER BY's trailing plaintext run, which
	// the database serves by sorting the rows when it is not sent as a
	// value (sort_arrival.go).
	arrival bool
}

// sortItem is what one ORDER BY item sorts by.
type sortItem struct {
	col    *policy.ProtectedColumn // an encrypted column (a min's or max's argument); nil for plaintext
	target int                     // the select-list entry it names, or -1
	node   *pg_query.Node          // the expression, when target < 0
	sb     *pg_query.SortBy
	agg    int // 1 + the index of the aggregate it is (planner_group.go); 0 for none
	// plain is, for a plaintext key, the column of a protected table it
	// can only be, or nil (sort_native.go).
	plain *tableColumn
}

// orderBy plans a query's ORDER BY, LIMIT and OFFSET. A top-level SELECT
// sorting by an encrypted column, or with WHERE conjuncts the proxy
// evaluates (filters, planner_filter.go), gets a SortPlan; any other
// query sorting by one is refused; the rest are checked as expressions.
func (p *planner) orderBy(s *pg_query.SelectStmt, sc *scope, top bool, filters []filterCand, conjuncts int, distinct bool) {
	var filterCol *policy.ProtectedColumn
	if len(filters) > 0 {
		filterCol = filters[0].col
	}
	items, enc := p.sortItems(s, sc, top, filterCol)
	if enc == nil && filterCol == nil && !distinct {
		for _, it := range items {
			if it.target < 0 {
				p.expr(it.node, sc, ctxOther("ORDER BY"))
			}
		}
		p.expr(s.GetLimitCount(), sc, ctxOther("LIMIT"))
		p.expr(s.GetLimitOffset(), sc, ctxOther("OFFSET"))
		return
	}
	why := sortShapeProblem(s, top)
	if fn := postponedCall(s); why == "" && fn != "" { // planner_sort_calls.go
		why = "beside the function " + fn + "() in the select list (PostgreSQL calls a volatile or costly function only after its sort and LIMIT, phiguard's database for every row: select columns, or compute it in the application)"
	}
	if enc != nil && why != "" {
		p.refuse(enc, "ORDER BY "+why)
		return
	}
	for _, it := range items {
		if it.col == nil && it.target < 0 {
			p.expr(it.node, sc, ctxOther("ORDER BY"))
		}
	}
	if p.plan.Refusal != nil {
		return
	}
	if p.plan.Sort = p.sortPlan(s, items); p.plan.Sort != nil {
		p.noteAnalysedFirst(sc)
		p.plan.Sort.addFilters(filters, conjuncts, s.GetTargetList())
		if len(s.GetDistinctClause()) > 0 {
			// The hidden columns would make every row distinct in the
			// database: phiguard removes the duplicates itself.
			p.distinctPlan(s, sc, items) // planner_distinct.go
		}
		if !callsOpaque(s) { // planner_sort_calls.go
			p.plan.Sort.planRounds(items) // sort_rounds.go
		}
		p.plan.Sort.planArrival(items) // sort_arrival.go
	}
}

// sortItems resolves each ORDER BY item; enc is the first encrypted
// column sorted by, nil when none is.
func (p *planner) sortItems(s *pg_query.SelectStmt, sc *scope, top bool, filterCol *policy.ProtectedColumn) ([]sortItem, *policy.ProtectedColumn) {
	var items []sortItem
	var enc *policy.ProtectedColumn
	targets := s.GetTargetList()
	unknown, ambiguous := false, false
	var positions []int // positions a * makes unknowable here
	for _, o := range s.GetSortClause() {
		sb := o.GetSortBy()
		it := sortItem{target: -1, node: sb.GetNode(), sb: sb}
		t, ok := outputReference(sb.GetNode(), targets)
		ambiguous = ambiguous || (!ok && t == ambiguousName)
		ordinal := sb.GetNode().GetAConst() != nil && sb.GetNode().GetAConst().GetIval() != nil
		switch {
		case ordinal && (!ok || starBefore(targets, t)):
			// A position PostgreSQL rejects, or one a * makes unknowable
			// here: it may name an encrypted column, and a rank cannot
			// hold a position.
			if (p.starOfProtected(targets, sc) || p.encryptedTarget(targets, sc)) && !top {
				p.refuse(firstColumn(sc), "ORDER BY a position in a select list with * (name the column)")
				return nil, nil
			}
			// The database sorts by it; the result's description will
			// say which column it is, and the proxy refuses the result
			// if that one is encrypted (Plan.OrderPositions).
			positions = append(positions, int(sb.GetNode().GetAConst().GetIval().GetIval()))
			unknown = true
		case ok:
			it.target, it.node = t, targets[t].GetResTarget().GetVal()
		}
		if ref := it.node.GetColumnRef(); ref != nil {
			switch kind, col := sc.resolve(ref); {
			case kind == refColumn:
				it.col = col
			case kind == refPlain && it.sb.GetSortbyDir() != pg_query.SortByDir_SORTBY_USING:
				it.plain = sc.plainTableColumn(ref) // sort_native.go
			}
		}
		if it.col != nil && enc == nil {
			enc = it.col
		}
		items = append(items, it)
	}
	// With filters, the plaintext keys are ranked in the text too.
	held := enc
	if held == nil {
		held = filterCol
	}
	if unknown && held != nil {
		p.refuse(held, "ORDER BY a position in a select list with * (name the column)")
		return nil, nil
	}
	if ambiguous && held != nil {
		// PostgreSQL rejects the statement (42702); without its ORDER BY
		// the rewrite would not be, and would sort by the input column.
		p.refuse(held, "ORDER BY a name that several select-list entries, or an entry and a *, have (ambiguous)")
		return nil, nil
	}
	p.plan.OrderPositions = positions
	return items, enc
}

// encryptedTarget: a select-list entry is an encrypted column.
func (p *planner) encryptedTarget(targets []*pg_query.Node, sc *scope) bool {
	for _, t := range targets {
		if ref := t.GetResTarget().GetVal().GetColumnRef(); ref != nil {
			if kind, _ := sc.resolve(ref); kind == refColumn {
				return true
			}
		}
	}
	return false
}

// ambiguousName is outputReference's entry for a name that entries with
// different expressions have.
const ambiguousName = -2

// outputReference says which select-list entry an ORDER BY item names: an
// integer constant by position, a bare name by output name (PostgreSQL's
// SQL-92 rule, which wins over an input column of that name;
// planner_sort_names.go).
func outputReference(n *pg_query.Node, targets []*pg_query.Node) (int, bool) {
	if c := n.GetAConst(); c != nil && c.GetIval() != nil {
		i := int(c.GetIval().GetIval()) - 1
		return i, i >= 0 && i < len(targets)
	}
	ref := n.GetColumnRef()
	if ref == nil || len(ref.GetFields()) != 1 || ref.GetFields()[0].GetString_() == nil {
		return -1, false
	}
	name := ref.GetFields()[0].GetString_().GetSval()
	found := -1
	for i, t := range targets {
		out, _ := outputName(t.GetResTarget())
		if out == "" { // named after a column phiguard does not see: may be name
			return ambiguousName, false
		}
		if out == name {
			switch {
			case found < 0:
				found = i
			case !sameExpr(targets[found].GetResTarget().GetVal(), t.GetResTarget().GetVal()):
				return ambiguousName, false // PostgreSQL says so
			}
		}
	}
	if found >= 0 && starBefore(targets, len(targets)-1) && bareName(targets[found].GetResTarget().GetVal()) != name {
		// A * may hold a column of that name too, another expression
		// than the entry's, which PostgreSQL calls ambiguous (42702);
		// phiguard cannot see every column a * expands to (red team
		// 27: SELECT *, grp AS id ... ORDER BY name, id was answered).
		// An entry that is the bare column is the *'s column itself.
		return ambiguousName, false
	}
	return found, found >= 0
}

func starBefore(targets []*pg_query.Node, t int) bool {
	for i := 0; i <= t && i < len(targets); i++ {
		if ref := targets[i].GetResTarget().GetVal().GetColumnRef(); ref != nil {
			for _, f := range ref.GetFields() {
				if f.GetAStar() != nil {
					return true
				}
			}
		}
	}
	return false
}

func (p *planner) starOfProtected(targets []*pg_query.Node, sc *scope) bool {
	for _, t := range targets {
		if ref := t.GetResTarget().GetVal().GetColumnRef(); ref != nil {
			if kind, _ := sc.resolve(ref); kind == refStar {
				return true
			}
		}
	}
	return false
}

// sortShapeProblem says why a query's ORDER BY on an encrypted column
// cannot run in the proxy; empty when it can.
func sortShapeProblem(s *pg_query.SelectStmt, top bool) string {
	const where = "(phiguard sorts encrypted columns only in a top-level SELECT sent alone, without DISTINCT ON, GROUP BY, HAVING, window functions, INTO or FOR UPDATE)"
	switch {
	case !top, distinctOn(s), len(s.GetGroupClause()) > 0, s.GetHavingClause() != nil,
		len(s.GetWindowClause()) > 0, len(s.GetLockingClause()) > 0, s.GetIntoClause() != nil, hasWindowCall(s):
		return where
	case s.GetLimitOption() == pg_query.LimitOption_LIMIT_OPTION_WITH_TIES:
		return "with FETCH ... WITH TIES"
	case !plainLimit(s.GetLimitCount()) || !plainLimit(s.GetLimitOffset()):
		return "with a LIMIT or OFFSET other than a constant or a parameter"
	}
	return ""
}

// hasWindowCall: a window function in the select list, which the rank of
// the plaintext keys must not be mixed with.
func hasWindowCall(s *pg_query.SelectStmt) bool {
	found := false
	for _, t := range s.GetTargetList() {
		walk(t.ProtoReflect(), func(m protoreflect.Message) {
			if fc, ok := m.Interface().(*pg_query.FuncCall); ok && fc.GetOver() != nil {
				found = true
			}
		})
	}
	return found
}

// plainLimit: absent, a constant (NULL and ALL included) or a parameter,
// possibly cast — what PostgreSQL evaluates the same on every row.
func plainLimit(n *pg_query.Node) bool {
	switch {
	case n == nil, n.GetNode() == nil, n.GetAConst() != nil, n.GetParamRef() != nil:
		return true
	case n.GetTypeCast() != nil:
		return plainLimit(n.GetTypeCast().GetArg())
	}
	return false
}

// sortPlan lays out the hidden columns and keys of an accepted ORDER BY.
func (p *planner) sortPlan(s *pg_query.SelectStmt, items []sortItem) *SortPlan {
	sp := &SortPlan{Limit: -1, Offset: -1}
	add := sp.addShared
	for i := 0; i < len(items); {
		it := items[i]
		if it.agg > 0 {
			sp.Keys = append(sp.Keys, aggregateKey(it, add))
			i++
			continue
		}
		if it.col == nil {
			j := i + 1
			for j < len(items) && items[j].col == nil && items[j].agg == 0 {
				j++
			}
			h := hiddenColumn{kind: hiddenRank, from: i, to: j}
			k := SortKey{Collation: -1, Target: -1}
			if j == i+1 && it.plain != nil {
				// Perhaps sent as the column's value, ordered by the
				// proxy in the key's direction (sort_native.go).
				h.native = it.plain
				k.Desc, k.NullsFirst = direction(it.sb)
			}
			k.Value = add(h)
			sp.Keys = append(sp.Keys, k)
			i = j
			continue
		}
		if !sortableType(it.col.Type) || it.sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_USING {
			p.refuse(it.col, "ORDER BY "+sortTypeProblem(it))
			return nil
		}
		k := SortKey{Column: it.col, Collation: -1, Target: selectedKey(it, s.GetTargetList())}
		if k.Target < 0 {
			k.Value = add(hiddenColumn{kind: hiddenColumnKey, from: i, col: it.col})
		}
		k.Desc, k.NullsFirst = direction(it.sb)
		if textType(it.col.Type) {
			k.Collation = add(hiddenColumn{kind: hiddenCollation, col: it.col})
		}
		sp.Keys = append(sp.Keys, k)
		i++
	}
	if s.GetLimitCount() != nil && !isNullConst(s.GetLimitCount()) {
		sp.Limit = add(hiddenColumn{kind: hiddenLimit})
	}
	if s.GetLimitOffset() != nil && !isNullConst(s.GetLimitOffset()) {
		sp.Offset = add(hiddenColumn{kind: hiddenOffset})
	}
	sp.Hidden = len(sp.hidden)
	for _, it := range items {
		sp.items = append(sp.items, it.target)
	}
	for _, t := range s.GetTargetList() {
		sp.labelled = append(sp.labelled, t.GetResTarget().GetName() != "")
	}
	return sp
}

// direction is an ORDER BY item's direction and where its NULLs go.
func direction(sb *pg_query.SortBy) (desc, nullsFirst bool) {
	desc = sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_DESC
	switch sb.GetSortbyNulls() {
	case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
		return desc, true
	case pg_query.SortByNulls_SORTBY_NULLS_LAST:
		return desc, false
	}
	return desc, desc
}

// aggregateKey is the key of an ORDER BY item that is an aggregate
// phiguard computes per group (planner_group.go): its value, with the
// collation probe of a min's or max's text argument.
func aggregateKey(it sortItem, add func(hiddenColumn) int) SortKey {
	k := SortKey{Agg: it.agg, Column: it.col, Target: -1, Collation: -1}
	k.Desc, k.NullsFirst = direction(it.sb)
	if it.col != nil && textType(it.col.Type) {
		k.Collation = add(hiddenColumn{kind: hiddenCollation, col: it.col})
	}
	return k
}

// selectedKey is the select-list entry holding an encrypted key as it is:
// the one it names, or a bare reference written with the same names; -1
// when none does, or a * before it makes its position unknown.
func selectedKey(it sortItem, targets []*pg_query.Node) int {
	t := it.target
	if t < 0 {
		key := refNames(it.node.GetColumnRef())
		for i, n := range targets {
			if ref := n.GetResTarget().GetVal().GetColumnRef(); ref != nil && key != "" && refNames(ref) == key {
				t = i
				break
			}
		}
	}
	if t < 0 || starBefore(targets, t) || targets[t].GetResTarget().GetVal().GetColumnRef() == nil {
		return -1
	}
	return t
}

// refNames is a column reference's names joined, "" for one with *.
func refNames(ref *pg_query.ColumnRef) string {
	var names []string
	for _, f := range ref.GetFields() {
		if f.GetString_() == nil {
			return ""
		}
		names = append(names, f.GetString_().GetSval())
	}
	return strings.Join(names, ".")
}

func sortTypeProblem(it sortItem) string {
	if it.sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_USING {
		return "USING an operator"
	}
	return "on a column of type " + it.col.Type.Name + " (phiguard does not sort it)"
}

// isNullConst: LIMIT ALL and LIMIT NULL, which limit nothing.
func isNullConst(n *pg_query.Node) bool {
	return n.GetAConst() != nil && n.GetAConst().GetIsnull()
}

// sortableType: the logical types whose order internal/pgorder knows,
// which sorts them in the proxy.
func sortableType(t policy.LogicalType) bool { return pgorder.Sortable(t) }

// textType: the types ordered by a collation.
func textType(t policy.LogicalType) bool {
	return t.OID == policy.OIDText || t.OID == policy.OIDVarchar || t.OID == policy.OIDBpchar
}

// addShared adds a hidden column, or returns an earlier one of the same
// kind and text: a probe that depends only on its column (the collation,
// the LC_CTYPE probe) or on nothing (the database's encoding). A sort key
// and a filter on one text column asked for its collation once each: of
// the four scalar subqueries PostgreSQL planned for `ILIKE 'gle%' ORDER
// BY last, first`, two said the same (0.1–0.2 ms of planning the four).
// The proxy reads a shared probe once per kind (guard/collation.go
// resolveProbes), so a collation and an LC_CTYPE probe stay apart even
// where their texts agree.
func (sp *SortPlan) addShared(h hiddenColumn) int {
	if key, ok := sharedProbe(h); ok {
		for i, e := range sp.hidden {
			if k, ok := sharedProbe(e); ok && k == key {
				return i
			}
		}
	}
	sp.hidden = append(sp.hidden, h)
	return len(sp.hidden) - 1
}

// probeKey is what a shared probe's text depends on.
type probeKey struct {
	kind  hiddenKind
	col   *policy.ProtectedColumn
	calls bool
}

// sharedProbe is what a probe's text depends on, and false for any other
// hidden column. A column's collation probe, its determinism probe and
// its LC_CTYPE probe without the lower()/upper() check are one text
// (collationProbe), so one hidden column, which each reader reads for
// its own purpose: an ILIKE ordered by its column sent the same subquery
// twice.
func sharedProbe(h hiddenColumn) (probeKey, bool) {
	switch {
	case h.kind == hiddenCollation, h.kind == hiddenDeterministic, h.kind == hiddenCtype && !h.calls && h.col != nil:
		return probeKey{kind: hiddenCollation, col: h.col}, true
	case h.kind == hiddenCtype, h.kind == hiddenEncoding:
		return probeKey{kind: h.kind, col: h.col, calls: h.calls}, true
	}
	return probeKey{}, false
}
