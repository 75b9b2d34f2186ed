package sqlrewrite

import "github.com/phiguard/phiguard/policy"

// classPlacements moves the checks of a statement's = comparisons of a
// column's cells with a value from beside them into their operands when
// PostgreSQL could put two of the values in one equivalence class.
//
// PostgreSQL makes a class of the expressions a WHERE or an inner join's
// ON equates with a mergejoinable =: the cells of a column, the constants
// compared with them (a literal's cell, a parameter's in a custom plan),
// and the other column of a join of two columns' cells. Two different
// constants in one class make a derived constant-false condition, with
// which a join is planned empty (a Result of One-Time Filter: false),
// every check beside a comparison dropped with it; a relation alone
// keeps its checks in PostgreSQL 15 only because it then tests a single
// restriction for false. On the plaintext a shadowing = (date, date) is
// no btree equality, makes no class, and is called on the rows: `a.born
// = b.born AND a.born = '1950-06-30' AND b.born = '1950-01-01'` answered
// 0 rows where the plaintext under a same-year = answers 9
// (TestRedTeam31bFoldedShapes). In its operand (an item of ARRAY[
// value, check], a CASE) the value is no constant the class can compare
// with another at planning: its check runs first.
//
// It applies when one column has two such comparisons, or a statement
// with a join of two columns' cells has two (the class may span the
// columns); a statement with one keeps its plan and estimate.
func (p *planner) classPlacements() {
	perColumn := map[*policy.ProtectedColumn]int{}
	classed, joins, apply := 0, false, false
	for _, g := range p.plan.Operators {
		joins = joins || g.joins && g.Op == "="
		if g.class != nil {
			classed++
			perColumn[g.Column]++
			apply = apply || perColumn[g.Column] > 1
		}
	}
	if !apply && !(joins && classed > 1) {
		return
	}
	for i := range p.plan.Operators {
		g := &p.plan.Operators[i]
		if g.class == nil {
			continue
		}
		g.Place, g.Slot = g.class.place, g.class.slot
		// In a read RewriteSort writes, it is placed in the client's
		// text as well as in the gate (sortedPlacements), as one that
		// folds is.
		g.Folds = true
	}
}
