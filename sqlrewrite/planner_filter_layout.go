package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// The layout of a plan's filters (planner_filter.go): each filter's
// hidden columns, its subquery group or WHERE tree, and how golden tests
// print them.

// filterString describes a plan's filters for golden tests.
func filterString(fs []Filter) string {
	s := ""
	for i, f := range fs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %s %s", f.ColumnFold.Wrap(f.Column.QualifiedName()), f.Op, f.Args[0])
		if f.Op.Like() && f.HasEscape {
			s += fmt.Sprintf(" ESCAPE %s", f.Escape)
		}
		if f.Op.Between() {
			s += fmt.Sprintf(" AND %s", f.Args[1])
		}
		if f.Having {
			s += " (in HAVING)"
			continue
		}
		if f.Tree > 0 {
			s += fmt.Sprintf(" (in tree %d, #%d)", f.Tree, f.Value)
			continue
		}
		if f.Group > 0 {
			s += fmt.Sprintf(" (in subquery %d%s, #%d", f.Group, map[bool]string{true: " under NOT"}[f.GroupNot], f.Value)
			if f.GroupCells > 1 {
				s += fmt.Sprintf(", cell %d of %d", f.GroupCell+1, f.GroupCells)
			}
			s += ")"
			continue
		}
		if f.Selected > 0 {
			s += fmt.Sprintf(" (select-list entry %d)", f.Selected) + f.Term.suffix()
			continue
		}
		s += fmt.Sprintf(" (#%d)", f.Value) + f.Term.suffix()
	}
	return s
}

// selectedColumn is the select-list entry that is the filter's column as
// a bare reference of the same names (so the same column, both resolved
// in the query level's FROM), with no * before it; -1 when there is none,
// or the filter is a leaf of an OR or NOT tree (which reads its hidden
// column) or folds its column.
func (c filterCand) selectedColumn(targets []*pg_query.Node) int {
	e := c.node.GetAExpr()
	if e == nil || c.tree != nil || c.fold != FoldNone {
		return -1
	}
	n := e.GetLexpr()
	if c.colRight {
		n = e.GetRexpr()
	}
	ref := n.GetColumnRef()
	if ref == nil {
		return -1
	}
	return selectedKey(sortItem{target: -1, node: n}, targets) // planner_sort.go
}

// addFilters lays out the hidden columns of the filters: the column
// (unless the select list holds it: targets, nil for none), a text
// column's collation, and for LIKE the database's encoding.
func (sp *SortPlan) addFilters(cands []filterCand, conjuncts int, targets []*pg_query.Node) {
	add := sp.addShared // planner_sort.go
	var top []filterCand
	groups, inGroup := map[*subGroup]int{}, map[*subGroup]int{}
	leaves, trees := map[*boolCand]int{}, map[*boolCand]int{}
	var roots []*boolCand
	refs := filterRefs{}
	for _, c := range cands {
		f := Filter{Column: c.col, Op: c.op, Collation: -1, Encoding: -1, Args: [2]FilterArg{c.args[0], c.args[1]},
			Escape: c.args[2], HasEscape: c.escape, ColumnFold: c.fold}
		if !c.op.Between() {
			f.Args[1] = FilterArg{Literal: -1}
		}
		switch g, ok := groups[c.group]; {
		case c.group == nil:
			if c.tree == nil {
				f.Ref = refs.of(c)
			}
			if t := c.selectedColumn(targets); t >= 0 {
				f.Selected, f.Value = t+1, -1
			} else {
				f.Value = add(hiddenColumn{kind: hiddenFilterColumn, from: len(top), col: c.col})
			}
			top = append(top, c)
		case ok:
			f.Group, f.GroupNot, f.Value = g, c.group.negated, sp.Filters[sp.firstOfGroup(g)].Value
		default: // the first of its group: the array of the column's cells
			sp.groups = append(sp.groups, c.group)
			f.Group, f.GroupNot = len(sp.groups), c.group.negated
			groups[c.group] = f.Group
			f.Value = add(hiddenColumn{kind: hiddenSubArray, from: f.Group - 1, col: c.col})
		}
		if g := c.group; g != nil && inGroup[g] < len(g.cells) {
			f.GroupCell, f.GroupCells = g.cells[inGroup[g]], g.width
			inGroup[g]++
		}
		if c.op.Like() {
			f.Encoding = add(hiddenColumn{kind: hiddenEncoding})
		}
		if textType(c.col.Type) {
			f.Collation = add(hiddenColumn{kind: hiddenCollation, col: c.col})
		}
		f.addFoldProbes(c, add)
		if c.tree != nil {
			if _, ok := trees[c.tree]; !ok {
				roots = append(roots, c.tree)
				trees[c.tree] = len(roots)
			}
			f.Tree, leaves[c.leaf] = trees[c.tree], len(sp.Filters)
		}
		sp.Filters = append(sp.Filters, f)
	}
	for _, r := range roots {
		sp.Trees = append(sp.Trees, sp.addTree(r, leaves)) // planner_filter_tree.go
	}
	var cols []*policy.ProtectedColumn
	for _, c := range cands {
		cols = append(cols, c.col)
	}
	var args []FilterArg
	for _, c := range cands {
		args = append(args, c.args[:]...)
	}
	sp.addShadowProbe(cols, false, "WHERE", exactWhereOperators(cands), args) // planner_shadow.go
	sp.cands, sp.conjuncts = top, conjuncts
	sp.planTerms() // planner_terms.go
	sp.Hidden = len(sp.hidden)
}

// firstOfGroup is the index of the first filter of group g.
func (sp *SortPlan) firstOfGroup(g int) int {
	for i, f := range sp.Filters {
		if f.Group == g {
			return i
		}
	}
	return -1
}

// filterRefs numbers the column references of a WHERE's conjuncts
// (Filter.Ref) by their qualifiers as written ("a", "public.t", "" for
// a bare name): in one query level, one qualifier names one relation
// (PostgreSQL refuses a FROM that names two alike, and a bare name two
// relations could hold). The same relation written two ways gets two
// numbers, which only splits what reads one cell.
type filterRefs map[string]int

// of is the number of the reference c's filter reads; a new one when c
// is not a comparison on a bare or folded column reference.
func (r filterRefs) of(c filterCand) int {
	qual, ok := c.qualifier()
	if n, seen := r[qual]; ok && seen {
		return n
	}
	n := len(r) + 1
	if !ok {
		qual = fmt.Sprintf("\x00%d", n) // no reference a qualifier can write
	}
	r[qual] = n
	return n
}

// qualifier is the names before the column in the filter's column
// reference, joined by dots; false when the filter's column is not a
// column reference (bare or in lower() or upper()) of an A_Expr.
func (c filterCand) qualifier() (string, bool) {
	e := c.node.GetAExpr()
	if e == nil {
		return "", false
	}
	n := e.GetLexpr()
	if c.colRight {
		n = e.GetRexpr()
	}
	if fold, arg := foldOf(n); fold != FoldNone {
		n = arg
	}
	ref := n.GetColumnRef()
	if ref == nil || len(ref.GetFields()) == 0 {
		return "", false
	}
	fields := ref.GetFields()
	names := make([]string, 0, len(fields)-1)
	for _, f := range fields[:len(fields)-1] {
		if f.GetString_() == nil {
			return "", false
		}
		names = append(names, f.GetString_().GetSval())
	}
	return strings.Join(names, "."), true
}
