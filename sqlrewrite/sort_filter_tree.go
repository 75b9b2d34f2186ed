package sqlrewrite

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// The text half of a WHERE tree (planner_filter_tree.go): the conjunct
// is sent as `true`, and each node the plan names is found in its tokens
// by following the plan's path down the tree, cutting at the ORs and ANDs
// of each node's depth and after a NOT, as PostgreSQL's grammar builds
// the tree. A count of operands other than the plan's means the text is
// not the one planned, and the statement is refused.

// unparen strips the parentheses enclosing all of tokens [a, b).
func (c *sortCut) unparen(a, b int) (int, int) {
	for b-a > 2 && c.tok(a) == pg_query.Token_ASCII_40 && c.closing(a, b) == b-1 {
		a, b = a+1, b-1
	}
	return a, b
}

// boolDescend follows path from a conjunct's tokens to a node's.
func (c *sortCut) boolDescend(seg [2]int, path []boolStep) ([2]int, error) {
	for _, st := range path {
		a, b := c.unparen(seg[0], seg[1])
		var parts [][2]int
		switch st.op {
		case BoolNot:
			if t := c.tok(a); (t != pg_query.Token_NOT && t != pg_query.Token_NOT_LA) || a+1 >= b {
				return seg, errors.New("the WHERE's NOT is not where the plan has it")
			}
			parts = [][2]int{{a + 1, b}}
		case BoolAnd:
			parts = c.conjuncts(a, b)
		case BoolOr:
			parts = c.disjuncts(a, b)
		}
		if len(parts) != st.n || st.i >= len(parts) {
			return seg, errors.New("the WHERE's OR, AND and NOT are not where the plan has them")
		}
		seg = parts[st.i]
	}
	return seg, nil
}

// disjuncts cuts tokens [from, to) at the ORs of their depth, the first
// operand's own ORs too, in parentheses or not, as conjuncts does for
// AND (PostgreSQL's makeOrExpr flattens the left operand only).
func (c *sortCut) disjuncts(from, to int) [][2]int {
	var out [][2]int
	s, base := from, c.depth[from]
	for i := from; i < to; i++ {
		if c.depth[i] == base && c.tok(i) == pg_query.Token_OR {
			out = append(out, [2]int{s, i})
			s = i + 1
		}
	}
	out = append(out, [2]int{s, to})
	a, b := c.unparen(out[0][0], out[0][1])
	if a != out[0][0] {
		if inner := c.disjuncts(a, b); len(inner) > 1 {
			return append(inner, out[1:]...)
		}
	}
	return out
}

// locatePlainLeaves finds each plaintext leaf of the plan's trees (segs
// are the WHERE's conjuncts) and checks it is a predicate the database
// can compute on any row.
func (c *sortCut) locatePlainLeaves(sp *SortPlan, segs [][2]int) error {
	for _, b := range sp.plain {
		if b.conjunct >= len(segs) {
			return errors.New("a WHERE tree the text does not have")
		}
		seg, err := c.boolDescend(segs[b.conjunct], b.path)
		if err != nil {
			return err
		}
		tree, err := pg_query.Parse("SELECT " + c.text(seg))
		if err != nil {
			return err
		}
		st := tree.GetStmts()
		if len(st) != 1 || st[0].GetStmt().GetSelectStmt() == nil ||
			len(st[0].GetStmt().GetSelectStmt().GetTargetList()) != 1 ||
			!safePlainLeaf(st[0].GetStmt().GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal()) {
			return errors.New("a plaintext operand of the WHERE's OR or NOT is not where the plan has it")
		}
		c.plain = append(c.plain, seg)
	}
	return nil
}

// plainLeafText is hidden column text of plaintext leaf i: its truth.
func (c *sortCut) plainLeafText(i int) (string, error) {
	if i >= len(c.plain) {
		return "", errors.New("a plaintext operand the text does not have")
	}
	return "CAST((" + strings.TrimSpace(c.text(c.plain[i])) + ") AS pg_catalog.text)", nil
}

// orAtDepth reports whether tokens [from, to) hold an OR at from's depth:
// they are then one disjunction, whose ANDs are its operands' own.
func (c *sortCut) orAtDepth(from, to int) bool {
	for i := from; i < to; i++ {
		if c.depth[i] == c.depth[from] && c.tok(i) == pg_query.Token_OR {
			return true
		}
	}
	return false
}
