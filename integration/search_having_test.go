package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestGroupHavingDifferential generates grouped statements phiguard
// groups (an encrypted group column or aggregate) with a HAVING tree of
// AND, OR and NOT over counts compared with constants (integers, a
// decimal, a quoted number, NULL, parameters), min and max of the
// randomized name, date and numeric and of the deterministic tag under
// every comparison a WHERE takes (ranges, BETWEEN, IS [NOT] DISTINCT
// FROM, LIKE, ILIKE with ESCAPE, lower() and upper(), IS [NOT] NULL;
// literals, parameters, NULL), and plaintext predicates
// on the group column, with or without proxy-side WHERE conjuncts, and
// runs each on the plaintext tables directly and on the encrypted ones
// through phiguard: simple protocol, extended with text results and
// extended with binary results; groups are compared as multisets. No
// answer may differ. The seed is fixed.
func TestGroupHavingDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	r := rand.New(rand.NewPCG(13, 2029))
	const statements = 150
	gen := func() (string, []any, bool) {
		q, args := genHavingStatement(r)
		return q, args, false // groups are compared as multisets
	}
	c := f.runThreeWays(t, statements, gen, nil)
	differ, nonEmpty, answers := c.differ, c.withRows, c.answers
	t.Logf("%d statements, 3 ways each: %d different answers, %d of %d answers with groups", statements, differ, nonEmpty, answers)
	if nonEmpty < answers/3 { // the comparison must be about groups (a HAVING drops many)
		t.Fatalf("only %d answers of %d have groups", nonEmpty, answers)
	}
}

// genHavingStatement is one statement of TestGroupHavingDifferential.
func genHavingStatement(r *rand.Rand) (string, []any) {
	var args []any
	group, plain := "p.grp", []string{"p.grp = 2", "p.grp <> 1", "p.grp IN (0, 4)", "p.grp IS NULL", "p.grp BETWEEN 1 AND 3", "NULL", "true"}
	sel := "p.grp, count(*), count(p.born), max(p.name), min(p.born), min(p.score), max(p.tag)"
	// The min and max of the select list, each with its filterColumns
	// entry (search_filter_diff_test.go) for its comparisons.
	type minMax struct {
		expr string
		col  int
	}
	minMaxes := []minMax{{"max(p.name)", 0}, {"min(p.born)", 1}, {"min(p.score)", 2}, {"max(p.tag)", 3}}
	if r.IntN(2) == 0 { // the randomized name: only IS NULL reads it
		group, plain = "p.name", []string{"p.name IS NULL", "p.name IS NOT NULL", "NULL"}
		sel = "p.name, count(*), count(p.born), min(p.born), max(p.score), min(p.name), min(p.tag)"
		minMaxes = []minMax{{"min(p.born)", 1}, {"max(p.score)", 2}, {"min(p.name)", 0}, {"min(p.tag)", 3}}
	}
	counts := []string{"count(*)", "count(p.born)"}
	leaf := func() string {
		if r.IntN(3) == 0 {
			return pick(r, plain...)
		}
		if r.IntN(2) == 0 { // min or max compared as a WHERE compares its column
			m := minMaxes[r.IntN(len(minMaxes))]
			switch r.IntN(8) {
			case 0:
				return m.expr + pick(r, " IS NULL", " IS NOT NULL")
			case 1:
				if m.col == 0 || m.col == 3 {
					return pick(r, "lower(", "upper(") + m.expr + ") " + pick(r, "=", "<>", ">=") + " " + pick(r, "'smith'", "'SMITH'", "lower('T3')", "'t3'")
				}
			}
			return "(" + strings.Join(genInnerConjuncts(r, m.col, m.expr, &args), " AND ") + ")"
		}
		k := pick(r, "0", "1", "2", "3", "5", "8", "2.5", "'3'", "NULL", "$")
		if k == "$" {
			args = append(args, r.IntN(8))
			k = fmt.Sprintf("$%d", len(args))
		}
		c, op := pick(r, counts...), pick(r, "=", "<>", "<", "<=", ">", ">=")
		if r.IntN(4) == 0 {
			return k + " " + op + " " + c
		}
		return c + " " + op + " " + k
	}
	var tree func(depth int) string
	tree = func(depth int) string {
		if depth == 0 || r.IntN(3) == 0 {
			return leaf()
		}
		switch r.IntN(4) {
		case 0:
			return "NOT (" + tree(depth-1) + ")"
		case 1:
			return "(" + tree(depth-1) + ") OR (" + tree(depth-1) + ")"
		}
		return "(" + tree(depth-1) + ") AND " + tree(depth-1)
	}
	having := tree(2)
	where := pick(r, "true", "p.id > 20", "p.born > '1960-01-01'", "p.name LIKE 'S%%' OR p.grp = 1")
	return fmt.Sprintf("SELECT %s FROM %%[1]s p WHERE %s GROUP BY %s HAVING %s", sel, where, group, having), args
}
