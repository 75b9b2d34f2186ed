package sqlrewrite

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// The WHERE half of RewriteSort (planner_filter.go): each conjunct the
// proxy evaluates is replaced by `true` (so the others keep their
// precedence and the WHERE its count of conjuncts), and its column
// becomes a hidden column. Its constants go with it: the database never
// sees them.

// filterCut is where one filter's parts are in the text.
type filterCut struct {
	op       FilterOp
	conjunct [2]int    // the whole conjunct's tokens
	column   [2]int    // the column operand
	args     [2][2]int // the constants
	escape   [2]int    // a LIKE's ESCAPE constant
}

// locateFilters finds the WHERE's conjuncts and the operands of each
// filter, checking that the text has the shape the plan was made for.
func (c *sortCut) locateFilters(sp *SortPlan) error {
	if !sp.whereFilters() { // a HAVING's are cut with it (sort_having.go)
		return nil
	}
	w := c.next(c.selectEnd, pg_query.Token_WHERE)
	if w >= c.tail {
		return errors.New("no WHERE")
	}
	end := c.next(w+1, pg_query.Token_GROUP_P, pg_query.Token_HAVING, pg_query.Token_WINDOW, pg_query.Token_ORDER,
		pg_query.Token_LIMIT, pg_query.Token_OFFSET, pg_query.Token_FETCH, pg_query.Token_FOR, pg_query.Token_ASCII_59)
	from, ok := c.pastProbes(w+1, end, sp.probes) // sort_probe_skip.go
	if !ok {
		return errors.New("the WHERE's probes are not where the plan put them")
	}
	segs := c.conjuncts(from, end)
	if len(segs) != sp.conjuncts {
		return errors.New("the WHERE's conjuncts do not match the statement's plan")
	}
	for _, cand := range sp.cands {
		seg := segs[cand.conjunct]
		if cand.leaf != nil { // a leaf of a tree (sort_filter_tree.go)
			var err error
			if seg, err = c.boolDescend(seg, cand.leaf.path); err != nil {
				return err
			}
		}
		fc, err := c.filterOperands(seg, cand)
		if err != nil {
			return err
		}
		fc.conjunct = segs[cand.conjunct] // the whole conjunct is sent as true
		c.filters = append(c.filters, fc)
	}
	if err := c.locatePlainLeaves(sp, segs); err != nil { // sort_filter_tree.go
		return err
	}
	return c.locateSubFilters(sp, segs) // sort_subfilter.go
}

// conjuncts cuts tokens [from, to) at the ANDs of their depth that are
// not a BETWEEN's, as PostgreSQL's grammar flattens them: the first
// operand's own ANDs too, in parentheses or not ((a AND b) AND c is
// three conjuncts; a AND (b AND c) two).
func (c *sortCut) conjuncts(from, to int) [][2]int {
	if c.orAtDepth(from, to) { // OR binds loosest: one disjunction (sort_filter_tree.go)
		return [][2]int{{from, to}}
	}
	out := c.split0(from, to)
	a, b := out[0][0], out[0][1]
	for b-a > 2 && c.tok(a) == pg_query.Token_ASCII_40 && c.closing(a, b) == b-1 {
		a, b = a+1, b-1
	}
	if a != out[0][0] {
		if inner := c.conjuncts(a, b); len(inner) > 1 {
			return append(inner, out[1:]...)
		}
	}
	return out
}

// split0 cuts tokens [from, to) at the ANDs of from's depth that are not
// a BETWEEN's.
func (c *sortCut) split0(from, to int) [][2]int {
	var out [][2]int
	s, between, base := from, 0, c.depth[from]
	for i := from; i < to; i++ {
		if c.depth[i] != base {
			continue
		}
		switch c.tok(i) {
		case pg_query.Token_BETWEEN:
			between++
		case pg_query.Token_AND:
			if between > 0 {
				between--
				continue
			}
			out = append(out, [2]int{s, i})
			s = i + 1
		}
	}
	return append(out, [2]int{s, to})
}

// closing is the token closing the parenthesis at i, or -1.
func (c *sortCut) closing(i, to int) int {
	for j := i + 1; j < to; j++ {
		if c.depth[j] == c.depth[i] && c.tok(j) == pg_query.Token_ASCII_41 {
			return j
		}
	}
	return -1
}

// filterOperands splits a conjunct into its column and constants.
func (c *sortCut) filterOperands(seg [2]int, cand filterCand) (filterCut, error) {
	fc := filterCut{conjunct: seg, op: cand.op}
	a, b := seg[0], seg[1]
	for b-a > 2 && c.tok(a) == pg_query.Token_ASCII_40 && c.closing(a, b) == b-1 {
		a, b = a+1, b-1
	}
	if a >= b {
		return fc, errors.New("an empty conjunct")
	}
	base := c.depth[a]
	at := func(from int, toks ...pg_query.Token) int {
		for i := from; i < b; i++ {
			for _, t := range toks {
				if c.depth[i] == base && c.tok(i) == t {
					return i
				}
			}
		}
		return -1
	}
	var left, right [2]int
	switch {
	case cand.op.Like():
		return c.likeOperands(fc, a, b, at, cand)
	case cand.op.Between():
		k := at(a, pg_query.Token_BETWEEN)
		and := at(k+1, pg_query.Token_AND)
		if k < 0 || and < 0 {
			return fc, errors.New("no BETWEEN")
		}
		l := k
		for l > a && (c.tok(l-1) == pg_query.Token_NOT || c.tok(l-1) == pg_query.Token_NOT_LA) {
			l--
		}
		from := k + 1
		if t := c.tok(from); t == pg_query.Token_SYMMETRIC || t == pg_query.Token_ASYMMETRIC {
			from++
		}
		fc.column, fc.args = [2]int{a, l}, [2][2]int{{from, and}, {and + 1, b}}
		return c.unfoldOperands(fc, cand)
	case cand.op == FilterDistinct || cand.op == FilterNotDistinct:
		k := at(a, pg_query.Token_IS)
		f := at(k+1, pg_query.Token_FROM)
		if k < 0 || f < 0 {
			return fc, errors.New("no IS DISTINCT FROM")
		}
		left, right = [2]int{a, k}, [2]int{f + 1, b}
	default:
		k := at(a, pg_query.Token_ASCII_60, pg_query.Token_ASCII_61, pg_query.Token_ASCII_62,
			pg_query.Token_LESS_EQUALS, pg_query.Token_GREATER_EQUALS, pg_query.Token_NOT_EQUALS)
		if k < 0 {
			return fc, errors.New("no comparison operator")
		}
		left, right = [2]int{a, k}, [2]int{k + 1, b}
	}
	if cand.colRight {
		left, right = right, left
	}
	fc.column, fc.args[0] = left, right
	return c.unfoldOperands(fc, cand)
}

// unfoldOperands narrows a folded column's span to the column inside
// its lower() or upper() (the hidden column is the bare column), and
// checks the operands.
func (c *sortCut) unfoldOperands(fc filterCut, cand filterCand) (filterCut, error) {
	if cand.fold != FoldNone {
		inner, ok := c.unfold(fc.column[0], fc.column[1])
		if !ok {
			return fc, errors.New("the WHERE's lower() or upper() is not where the plan has it")
		}
		fc.column = inner
	}
	return fc, c.checkOperands(fc)
}

// likeOperands splits col [NOT] LIKE|ILIKE pattern [ESCAPE e], or the
// operator spelled out (~~ !~~ ~~* !~~*, an Op token).
func (c *sortCut) likeOperands(fc filterCut, a, b int, at func(int, ...pg_query.Token) int, cand filterCand) (filterCut, error) {
	k := at(a, pg_query.Token_LIKE, pg_query.Token_ILIKE, pg_query.Token_Op)
	if k < 0 {
		return fc, errors.New("no LIKE")
	}
	l := k
	if l > a && (c.tok(l-1) == pg_query.Token_NOT || c.tok(l-1) == pg_query.Token_NOT_LA) {
		l--
	}
	if cand.fold != FoldNone {
		inner, ok := c.unfold(a, l)
		if !ok {
			return fc, errors.New("the WHERE's lower() or upper() is not where the plan has it")
		}
		a, l = inner[0], inner[1]
	}
	fc.column, fc.args[0] = [2]int{a, l}, [2]int{k + 1, b}
	if e := at(k+1, pg_query.Token_ESCAPE); e >= 0 {
		fc.args[0], fc.escape = [2]int{k + 1, e}, [2]int{e + 1, b}
	} else if cand.escape {
		fc.args[0], fc.escape = c.likeEscapeCall(k+1, b)
	}
	if (fc.escape[1] > fc.escape[0]) != cand.escape {
		return fc, errors.New("the LIKE's ESCAPE is not where the plan has it")
	}
	if err := c.checkOperands(fc); err != nil {
		return fc, err
	}
	if cand.escape {
		return fc, c.checkOperands(filterCut{column: fc.column, args: [2][2]int{fc.escape}})
	}
	return fc, nil
}

// likeEscapeCall finds the operands of ESCAPE written as the grammar
// makes it, pg_catalog.like_escape(pattern, e) (a deparsed statement, as
// the access rules send on, has it so): tokens [from, to) are the call.
func (c *sortCut) likeEscapeCall(from, to int) ([2]int, [2]int) {
	open := from + 3
	if to-from < 7 || c.tok(from+1) != pg_query.Token_ASCII_46 || c.tok(open) != pg_query.Token_ASCII_40 ||
		c.closing(open, to) != to-1 || !strings.EqualFold(c.text([2]int{from, open}), "pg_catalog.like_escape") {
		return [2]int{}, [2]int{}
	}
	for i := open + 1; i < to-1; i++ {
		if c.depth[i] == c.depth[open]+1 && c.tok(i) == pg_query.Token_ASCII_44 {
			return [2]int{open + 1, i}, [2]int{i + 1, to - 1}
		}
	}
	return [2]int{}, [2]int{}
}

// checkOperands parses the operands found: a column reference and
// constants, or the cut was not where the plan's tree has them.
func (c *sortCut) checkOperands(fc filterCut) error {
	parts := []string{c.text(fc.column), c.text(fc.args[0])}
	if fc.args[1][1] > fc.args[1][0] {
		parts = append(parts, c.text(fc.args[1]))
	}
	tree, err := pg_query.Parse("SELECT " + strings.Join(parts, ", "))
	if err != nil {
		return err
	}
	st := tree.GetStmts()
	if len(st) != 1 || st[0].GetStmt().GetSelectStmt() == nil {
		return errors.New("the WHERE's operands are not one select list")
	}
	targets := st[0].GetStmt().GetSelectStmt().GetTargetList()
	if len(targets) != len(parts) || targets[0].GetResTarget().GetVal().GetColumnRef() == nil {
		return errors.New("the WHERE's operands are not where the plan has them")
	}
	for _, t := range targets[1:] {
		if !filterOperandConst(t.GetResTarget().GetVal()) {
			return errors.New("a WHERE operand is not a constant")
		}
	}
	return nil
}

// whereConjuncts is how many top-level conjuncts a parsed WHERE has.
func whereConjuncts(where *pg_query.Node) int {
	if where == nil {
		return 0
	}
	if b := where.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		return len(b.GetArgs())
	}
	return 1
}
