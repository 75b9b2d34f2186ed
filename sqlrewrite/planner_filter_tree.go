package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// OR and NOT above filters (issue 13, docs/search.md "OR and NOT"). A
// top-level conjunct of the WHERE that is a boolean tree (AND, OR, NOT)
// whose leaves are filters (comparisons of one encrypted column with
// constants, planner_filter.go) and plaintext predicates cannot narrow
// the rows in the database: the database cannot evaluate the filters on
// cells, and no placeholder for a filter keeps every row the tree could
// keep (NOT of a placeholder would drop some). So the whole conjunct is
// sent as `true` (sort_filter.go), each filter's column is a hidden
// column as for a conjunct, each plaintext leaf (or subtree without a
// filter) is a hidden column of its truth,
//
//	CAST((leaf) AS pg_catalog.text)   -- 'true', 'false' or NULL
//
// and the proxy evaluates the tree on each row with SQL's three-valued
// logic (guard/protect_filter_tree.go): NOT of NULL is NULL, a OR NULL
// is true only when a is, and the row is kept only when the tree is
// true, as PostgreSQL's WHERE keeps it.
//
// The database computes a plaintext leaf in the select list for every
// row its other conjuncts keep, where PostgreSQL might not evaluate it
// at all (an OR stops at its first true operand). So a leaf must be one
// that cannot fail on a row: a column compared with constants (=, <>,
// ranges, BETWEEN, IS [NOT] DISTINCT FROM, IN a list), IS [NOT] NULL
// or IS [NOT] TRUE/FALSE/UNKNOWN of a column, a boolean column or
// constant. Any other leaf beside a filter keeps the tree out of the
// proxy, and the conjunct is planned as an expression: refused on its
// encrypted column as before.

// maxTreeFilters bounds the filters of one tree: each is a hidden column
// (or several) that the database returns and phiguard opens for every
// row, and a plan whose size the analysis cache charges by the
// statement's literals (memory.go); an ORM's OR of hundreds of
// comparisons on a randomized column is refused rather than held.
const maxTreeFilters = 32

// BoolOp is the kind of a BoolNode.
type BoolOp uint8

const (
	BoolAnd    BoolOp = iota + 1
	BoolOr            //
	BoolNot           //
	BoolFilter        // Filters[Index]
	BoolPlain         // a plaintext predicate: hidden column Index holds its truth
	BoolCount         // a HAVING's Aggregates[Agg] Cmp the constant in HavingHidden[Index] (planner_having.go)
)

// BoolNode is a node of a WHERE conjunct the proxy evaluates as a tree.
type BoolNode struct {
	Op    BoolOp
	Args  []*BoolNode
	Index int
	// Agg and Cmp are a BoolCount's count and comparison.
	Agg int
	Cmp FilterOp
}

// String describes the tree for golden tests.
func (b *BoolNode) String() string {
	switch b.Op {
	case BoolFilter:
		return fmt.Sprintf("filter %d", b.Index+1)
	case BoolPlain:
		return fmt.Sprintf("#%d", b.Index)
	case BoolCount:
		return fmt.Sprintf("aggregate %d %s #%d", b.Agg+1, b.Cmp, b.Index)
	}
	var args []string
	for _, a := range b.Args {
		args = append(args, a.String())
	}
	return map[BoolOp]string{BoolAnd: "AND", BoolOr: "OR", BoolNot: "NOT"}[b.Op] + "(" + strings.Join(args, ", ") + ")"
}

// boolStep is one step from a conjunct down to a node of its tree: the
// node's kind, its count of operands, and which the path takes.
type boolStep struct {
	op   BoolOp
	n, i int
}

// boolCand is a node of a conjunct's tree while it is planned.
type boolCand struct {
	op       BoolOp
	args     []*boolCand
	conjunct int
	path     []boolStep     // from the conjunct to this node
	node     *pg_query.Node // a plaintext leaf's expression; a count's constant
	// A HAVING's count (planner_having.go): its aggregate, comparison,
	// on which side the constant is, and whether it is a decimal.
	agg        int
	cmp        FilterOp
	constRight bool
	decimal    bool
	// having is a HAVING's comparison of min or max (BoolFilter; agg is
	// the aggregate), read as a filter on its column (planner_having_minmax.go).
	having *filterCand
}

// treeFilters plans the i-th top-level conjunct as a tree, when it is
// one with at least one filter and only safe plaintext leaves beside
// them; its filters are returned, each with its leaf.
func (p *planner) treeFilters(n *pg_query.Node, sc *scope, i int) ([]filterCand, bool) {
	if b := n.GetBoolExpr(); b == nil {
		return nil, false
	}
	var cands []filterCand
	root, ok := p.boolTree(n, sc, &cands, i, nil)
	if !ok || len(cands) == 0 {
		return nil, false
	}
	if len(cands) > maxTreeFilters {
		p.refuse(cands[0].col, fmt.Sprintf("a WHERE with more than %d comparisons phiguard evaluates under OR or NOT", maxTreeFilters))
		return nil, true
	}
	for j := range cands {
		cands[j].tree, cands[j].conjunct = root, i
	}
	p.planPlainLeaves(root, sc)
	return cands, true
}

// boolTree builds the tree of node n, its filters appended to cands (the
// tree's leaf for each is cands[k].leaf). A subtree without a filter is
// one plaintext leaf.
func (p *planner) boolTree(n *pg_query.Node, sc *scope, cands *[]filterCand, conjunct int, path []boolStep) (*boolCand, bool) {
	b := n.GetBoolExpr()
	if b == nil {
		if f, ok := p.filterOf(n, sc); ok {
			leaf := &boolCand{op: BoolFilter, conjunct: conjunct, path: path}
			f.node, f.leaf = n, leaf
			*cands = append(*cands, f)
			return leaf, true
		}
		return &boolCand{op: BoolPlain, conjunct: conjunct, path: path, node: n}, safePlainLeaf(n)
	}
	op := map[pg_query.BoolExprType]BoolOp{pg_query.BoolExprType_AND_EXPR: BoolAnd,
		pg_query.BoolExprType_OR_EXPR: BoolOr, pg_query.BoolExprType_NOT_EXPR: BoolNot}[b.GetBoolop()]
	if op == 0 || op == BoolNot && len(b.GetArgs()) != 1 {
		return nil, false
	}
	before := len(*cands)
	node := &boolCand{op: op, conjunct: conjunct, path: path}
	safe := true
	for k, a := range b.GetArgs() {
		step := append(append([]boolStep(nil), path...), boolStep{op: op, n: len(b.GetArgs()), i: k})
		child, ok := p.boolTree(a, sc, cands, conjunct, step)
		if child == nil {
			return nil, false
		}
		safe = safe && ok
		node.args = append(node.args, child)
	}
	if len(*cands) == before { // no filter below: one plaintext leaf
		*cands = (*cands)[:before]
		return &boolCand{op: BoolPlain, conjunct: conjunct, path: path, node: n}, safe
	}
	return node, safe
}

// planPlainLeaves plans the plaintext leaves as the expressions they are
// (a deterministic column's = encrypts its constant, a column the role
// may not read is refused).
func (p *planner) planPlainLeaves(b *boolCand, sc *scope) {
	if b.op == BoolPlain {
		p.plainLeaf = true
		p.expr(b.node, sc, ctxOther("WHERE"))
		p.plainLeaf = false
	}
	for _, a := range b.args {
		p.planPlainLeaves(a, sc)
	}
}

// safePlainLeaf: an expression the database can compute for any row
// without failing (see above), or a tree of them.
func safePlainLeaf(n *pg_query.Node) bool {
	switch {
	case n.GetColumnRef() != nil:
		return plainColumn(n)
	case n.GetAConst() != nil:
		return true
	case n.GetNullTest() != nil:
		return plainColumn(n.GetNullTest().GetArg())
	case n.GetBooleanTest() != nil:
		return plainColumn(n.GetBooleanTest().GetArg())
	case n.GetBoolExpr() != nil:
		for _, a := range n.GetBoolExpr().GetArgs() {
			if !safePlainLeaf(a) {
				return false
			}
		}
		return true
	case n.GetAExpr() != nil:
		return safePlainComparison(n.GetAExpr())
	}
	return false
}

// safePlainComparison: a column compared with constants.
func safePlainComparison(e *pg_query.A_Expr) bool {
	l, r := e.GetLexpr(), e.GetRexpr()
	switch e.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		names := e.GetName()
		if len(names) != 1 {
			return false
		}
		switch names[0].GetString_().GetSval() {
		case "=", "<>", "!=", "<", "<=", ">", ">=":
		default:
			return false
		}
		return plainColumn(l) && filterConst(r) || plainColumn(r) && filterConst(l)
	case pg_query.A_Expr_Kind_AEXPR_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		return plainColumn(l) && filterConst(r)
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM,
		pg_query.A_Expr_Kind_AEXPR_IN:
		items := r.GetList().GetItems()
		if !plainColumn(l) || len(items) == 0 {
			return false
		}
		for _, it := range items {
			if !filterConst(it) {
				return false
			}
		}
		return true
	}
	return false
}

// plainColumn: a column reference (not a whole row, t.*).
func plainColumn(n *pg_query.Node) bool {
	ref := n.GetColumnRef()
	if ref == nil {
		return false
	}
	for _, f := range ref.GetFields() {
		if f.GetAStar() != nil {
			return false
		}
	}
	return true
}

// addTree lays out a tree's plaintext leaves as hidden columns and
// returns the tree the proxy evaluates; filters maps each filter leaf to
// its index in sp.Filters.
func (sp *SortPlan) addTree(b *boolCand, filters map[*boolCand]int) *BoolNode {
	switch b.op {
	case BoolFilter:
		i, ok := filters[b]
		if !ok {
			i = -1 // refused: the proxy fails a tree it cannot evaluate
		}
		return &BoolNode{Op: BoolFilter, Index: i}
	case BoolPlain:
		sp.plain = append(sp.plain, b)
		sp.hidden = append(sp.hidden, hiddenColumn{kind: hiddenBoolLeaf, from: len(sp.plain) - 1})
		return &BoolNode{Op: BoolPlain, Index: len(sp.hidden) - 1}
	}
	out := &BoolNode{Op: b.op}
	for _, a := range b.args {
		out.Args = append(out.Args, sp.addTree(a, filters))
	}
	return out
}

// treesString describes a plan's trees for golden tests.
func treesString(ts []*BoolNode) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.String())
	}
	return "proxy evaluates " + strings.Join(s, ", ")
}
