package guard

import (
	"slices"
	"strconv"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Proxy-side HAVING (docs/search.md "GROUP BY", sqlrewrite/planner_having.go):
// a grouped statement's HAVING reached the database as hidden columns,
// a count's constant (as int8 or numeric) and a plaintext leaf's truth
// over group columns, the same in every row of a group. Each held row
// keeps them; a group is sent when the tree is true on its first row's
// and its counts, under three-valued logic (a NULL constant makes its
// comparison NULL), as PostgreSQL's HAVING keeps it. A comparison of min
// or max (sqlrewrite/planner_having_minmax.go) is a filter on the
// group's aggregate: its constants were read as a WHERE's, and it is
// evaluated as one on the min or max (NULL when the group has no
// non-NULL value).

// havingCells copies a row's hidden HAVING columns, which the row keeps.
func havingCells(sp *sqlrewrite.SortPlan, hidden [][]byte) [][]byte {
	if sp.Having == nil {
		return nil
	}
	out := make([][]byte, len(sp.HavingHidden))
	for i, h := range sp.HavingHidden {
		if h < len(hidden) && hidden[h] != nil {
			out[i] = slices.Clone(hidden[h])
		}
	}
	return out
}

// havingKeeps evaluates the HAVING on a group: its first row's cells and
// its aggregates' states.
func havingKeeps(run *sortRun, first *sortedRow, states []aggState) (bool, *pgerr.Error) {
	if run.plan.Having == nil {
		return true, nil
	}
	r, pe := havingTruth(run, run.plan.Having, first.having, states)
	return r == triTrue, pe
}

func havingTruth(run *sortRun, b *sqlrewrite.BoolNode, cells [][]byte, states []aggState) (tri, *pgerr.Error) {
	sp := run.plan
	switch b.Op {
	case sqlrewrite.BoolPlain:
		if b.Index >= len(cells) {
			return triNull, pgerr.New(pgerr.InternalError, "phiguard's plan of the HAVING names no column")
		}
		return plainTruth(cells[b.Index])
	case sqlrewrite.BoolCount:
		return countTruth(b, sp, cells, states)
	case sqlrewrite.BoolFilter:
		return minMaxTruth(run, b, states)
	case sqlrewrite.BoolNot:
		if len(b.Args) != 1 {
			return triNull, pgerr.New(pgerr.InternalError, "phiguard's plan of the HAVING's NOT has no operand")
		}
		r, pe := havingTruth(run, b.Args[0], cells, states)
		return not3(r), pe
	}
	and := b.Op == sqlrewrite.BoolAnd
	acc := truth(and)
	for _, a := range b.Args {
		r, pe := havingTruth(run, a, cells, states)
		if pe != nil {
			return triNull, pe
		}
		if and {
			acc = and3(acc, r)
		} else {
			acc = or3(acc, r)
		}
	}
	return acc, nil
}

// countTruth compares a count with its constant, both as numeric (an
// int8 constant is exactly one; a decimal one PostgreSQL compares with
// int8 in numeric).
func countTruth(b *sqlrewrite.BoolNode, sp *sqlrewrite.SortPlan, cells [][]byte, states []aggState) (tri, *pgerr.Error) {
	if b.Index >= len(cells) || b.Agg < 0 || b.Agg >= len(states) || b.Agg >= len(sp.Aggregates) {
		return triNull, pgerr.New(pgerr.InternalError, "phiguard's plan of the HAVING names no count")
	}
	if cells[b.Index] == nil {
		return triNull, nil
	}
	st := &states[b.Agg]
	n := st.count
	if sp.Aggregates[b.Agg].Distinct {
		n = distinctCount(st.keys)
	}
	x, err1 := pgorder.Parse(numericType, []byte(strconv.FormatInt(n, 10)))
	k, err2 := pgorder.Parse(numericType, cells[b.Index])
	if err1 != nil || err2 != nil {
		return triNull, pgerr.New(pgerr.InternalError, "phiguard could not read a HAVING's count or constant")
	}
	return filterHolds(b.Cmp, sortValue{key: x}, [2]filterArg{{key: k}}, keyOrder{}), nil
}

// minMaxTruth evaluates filter b.Index on the group's min or max.
func minMaxTruth(run *sortRun, b *sqlrewrite.BoolNode, states []aggState) (tri, *pgerr.Error) {
	sp := run.plan
	if b.Index < 0 || b.Index >= len(sp.Filters) || !sp.Filters[b.Index].Having || b.Agg < 0 || b.Agg >= len(states) {
		return triNull, pgerr.New(pgerr.InternalError, "phiguard's plan of the HAVING names no min or max")
	}
	x := sortValue{null: true}
	if st := &states[b.Agg]; st.seen {
		x = sortValue{key: st.best}
	}
	return run.filterTruth(b.Index, x)
}
