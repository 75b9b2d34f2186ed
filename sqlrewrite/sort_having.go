package sqlrewrite

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// The text half of a HAVING phiguard evaluates (planner_having.go): the
// clause is cut with the GROUP BY, and each leaf the plan names is found
// in its tokens by the plan's path (sort_filter_tree.go).

// havingClause is the HAVING after the GROUP BY: its keyword to the
// token after its condition.
func (c *sortCut) havingClause() ([2]int, error) {
	h := c.group[1]
	if c.group[1] <= c.group[0] || c.tok(h) != pg_query.Token_HAVING || c.depth[h] != 0 {
		return [2]int{}, errors.New("no HAVING after the GROUP BY")
	}
	end := c.next(h+1, pg_query.Token_WINDOW, pg_query.Token_ORDER, pg_query.Token_LIMIT, pg_query.Token_OFFSET,
		pg_query.Token_FETCH, pg_query.Token_FOR, pg_query.Token_ASCII_59)
	if end <= h+1 {
		return [2]int{}, errors.New("an empty HAVING")
	}
	return [2]int{h, end}, nil
}

// havingLeafText is the hidden column of HAVING leaf i: a plaintext
// leaf's truth, or a count's constant as PostgreSQL types it against int8.
func (c *sortCut) havingLeafText(sp *SortPlan, i int) (string, error) {
	cl, err := c.havingClause()
	if err != nil || i >= len(sp.havingLeaves) {
		return "", errors.New("a HAVING the text does not have")
	}
	b := sp.havingLeaves[i]
	seg, err := c.boolDescend([2]int{cl[0] + 1, cl[1]}, b.path)
	if err != nil {
		return "", err
	}
	if b.op == BoolPlain {
		if !c.parsesAs(seg, safePlainLeaf) {
			return "", errors.New("a plaintext operand of the HAVING is not where the plan has it")
		}
		return "CAST((" + strings.TrimSpace(c.text(seg)) + ") AS pg_catalog.text)", nil
	}
	a, z := c.unparen(seg[0], seg[1])
	k := -1
	for j := a; j < z; j++ {
		switch c.tok(j) {
		case pg_query.Token_ASCII_60, pg_query.Token_ASCII_61, pg_query.Token_ASCII_62, pg_query.Token_LESS_EQUALS,
			pg_query.Token_GREATER_EQUALS, pg_query.Token_NOT_EQUALS:
			if c.depth[j] == c.depth[a] && k < 0 {
				k = j
			}
		}
	}
	if k < 0 {
		return "", errors.New("no comparison in the HAVING where the plan has it")
	}
	constant := [2]int{k + 1, z}
	if !b.constRight {
		constant = [2]int{a, k}
	}
	if !c.parsesAs(constant, func(n *pg_query.Node) bool { return n.GetAConst() != nil || n.GetParamRef() != nil }) {
		return "", errors.New("a HAVING's constant is not where the plan has it")
	}
	typ := "pg_catalog.int8"
	if b.decimal {
		typ = "pg_catalog.numeric"
	}
	// As text: the hidden columns come in the client's result format.
	return "CAST(CAST((" + strings.TrimSpace(c.text(constant)) + ") AS " + typ + ") AS pg_catalog.text)", nil
}

// parsesAs parses tokens r as one expression and tests it.
func (c *sortCut) parsesAs(r [2]int, ok func(*pg_query.Node) bool) bool {
	tree, err := pg_query.Parse("SELECT " + c.text(r))
	if err != nil {
		return false
	}
	st := tree.GetStmts()
	if len(st) != 1 || st[0].GetStmt().GetSelectStmt() == nil || len(st[0].GetStmt().GetSelectStmt().GetTargetList()) != 1 {
		return false
	}
	return ok(st[0].GetStmt().GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal())
}
