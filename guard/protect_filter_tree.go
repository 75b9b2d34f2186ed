package guard

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// OR and NOT above filters (docs/search.md, sqlrewrite/planner_filter_tree.go):
// a WHERE conjunct that is a tree of AND, OR and NOT over filters and
// plaintext predicates reached the database as true; each filter's
// column is a hidden cell, each plaintext leaf a hidden 'true', 'false'
// or NULL that the database computed. The row is kept when the tree is
// true under SQL's three-valued logic. The operands are evaluated left to
// right and an AND stops at its first false operand, an OR at its first
// true one, as PostgreSQL's executor evaluates a BoolExpr: a filter past
// that point is not evaluated (a LIKE pattern that would fail with 22025
// fails only where PostgreSQL reaches it), and its cell is not opened.

// keepRowTrees evaluates each tree of the plan on a row.
func (s *Session) keepRowTrees(run *sortRun, fields []*resultField, cells [][]byte, visible int) (bool, *pgerr.Error) {
	for _, t := range run.plan.Trees {
		r, pe := s.treeTruth(run, t, fields, cells, visible)
		if pe != nil || r != triTrue {
			return false, pe
		}
	}
	return true, nil
}

// treeTruth is a node's three-valued truth on a row.
func (s *Session) treeTruth(run *sortRun, b *sqlrewrite.BoolNode, fields []*resultField, cells [][]byte, visible int) (tri, *pgerr.Error) {
	switch b.Op {
	case sqlrewrite.BoolFilter:
		if b.Index < 0 || b.Index >= len(run.plan.Filters) {
			return triNull, pgerr.New(pgerr.InternalError, "phiguard's plan of the WHERE's OR or NOT names no filter")
		}
		x, pe := s.filterValue(run.plan.Filters[b.Index], fields, cells, visible)
		if pe != nil {
			return triNull, pe
		}
		return run.filterTruth(b.Index, x)
	case sqlrewrite.BoolPlain:
		return plainTruth(cells[visible+b.Index])
	case sqlrewrite.BoolNot:
		if len(b.Args) != 1 {
			return triNull, pgerr.New(pgerr.InternalError, "phiguard's plan of the WHERE's NOT has no operand")
		}
		r, pe := s.treeTruth(run, b.Args[0], fields, cells, visible)
		return not3(r), pe
	}
	and := b.Op == sqlrewrite.BoolAnd
	acc := truth(and) // AND of nothing is true, OR of nothing false
	for _, a := range b.Args {
		r, pe := s.treeTruth(run, a, fields, cells, visible)
		if pe != nil {
			return triNull, pe
		}
		if and {
			acc = and3(acc, r)
		} else {
			acc = or3(acc, r)
		}
		if acc == truth(!and) { // false for AND, true for OR: decided
			return acc, nil
		}
	}
	return acc, nil
}

// not3 is SQL's NOT: NOT NULL is NULL.
func not3(r tri) tri {
	switch r {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triNull
}

// plainTruth reads a plaintext leaf's hidden column, CAST(bool AS text).
func plainTruth(v []byte) (tri, *pgerr.Error) {
	switch string(v) {
	case "true":
		return triTrue, nil
	case "false":
		return triFalse, nil
	}
	if v == nil {
		return triNull, nil
	}
	return triNull, pgerr.New(pgerr.InternalError, "phiguard could not read the truth of a plaintext operand of the WHERE's OR or NOT")
}
