package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestFilterTreeDifferential generates statements whose WHERE holds a
// tree of AND, OR and NOT over comparisons of encrypted columns (every
// comparison phiguard evaluates, LIKE and ILIKE, constants of several
// spellings, parameters, NULL) and plaintext predicates (comparisons,
// IN lists, BETWEEN, IS NULL, boolean columns, = on a deterministic
// column, NULL), nested up to three deep, NOT with and without
// parentheses, beside plaintext conjuncts or alone; with or without an
// ORDER BY (by a plaintext or an encrypted key), LIMIT and OFFSET, and
// some as aggregates, GROUP BY or DISTINCT phiguard computes. Each runs on the plaintext
// tables directly and on the encrypted ones through phiguard: simple
// protocol, extended with text results and extended with binary
// results. The data has NULLs in every encrypted column and in
// addresses.sequence. No answer may differ. The seed is fixed.
func TestFilterTreeDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	r := rand.New(rand.NewPCG(13, 2028))
	const statements = 200
	withRows := func(want string) bool { return strings.Count(want, "\n") > 0 && !strings.HasPrefix(want, "0 |") } // a count of 0 is no row
	c := f.runThreeWays(t, statements, func() (string, []any, bool) { return genTreeStatement(r) }, withRows)
	differ, nonEmpty, answers := c.differ, c.withRows, c.answers
	t.Logf("%d statements, 3 ways each: %d different answers, %d of %d answers with rows", statements, differ, nonEmpty, answers)
	if nonEmpty < answers/2 { // the comparison must be about rows
		t.Fatalf("only %d answers of %d have rows", nonEmpty, answers)
	}
}

// genTreeStatement is one statement of TestFilterTreeDifferential;
// ordered says its rows come in an order both sides must agree on.
func genTreeStatement(r *rand.Rand) (string, []any, bool) {
	join := r.IntN(2) == 0
	unique, from := "p.id", "%[1]s p"
	if join {
		unique, from = "a.id", "%[2]s a LEFT JOIN %[1]s p ON p.id = a.person"
	}
	var args []any
	tree := genTree(r, join, &args, 3)
	for !hasEncryptedLeaf(tree) {
		tree = "(" + tree + ") OR " + genEncryptedLeaf(r, join, &args)
	}
	where := tree
	switch r.IntN(3) {
	case 0:
		where = pick(r, "p.grp <> 3", "p.id > 20") + " AND (" + tree + ")"
	case 1:
		where = pick(r, "p.grp <> 3", "p.id > 20") + " AND " + tree // an OR at the top takes the AND in
	}
	sel := []string{unique}
	for _, c := range []string{"p.name", "p.born", "p.score", "p.tag", "a.city"} {
		if (join || c != "a.city") && r.IntN(3) == 0 {
			sel = append(sel, c)
		}
	}
	switch r.IntN(12) { // phiguard's aggregates, GROUP BY and DISTINCT over its WHERE
	case 0:
		return fmt.Sprintf("SELECT count(*), count(p.name), min(p.born), max(p.name) FROM %s WHERE %s", from, where), args, true
	case 1:
		return fmt.Sprintf("SELECT p.grp, count(*), max(p.name) FROM %s WHERE %s GROUP BY p.grp", from, where), args, false
	case 2:
		return fmt.Sprintf("SELECT DISTINCT p.name, p.grp FROM %s WHERE %s", from, where), args, false
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(sel, ", "), from, where)
	switch r.IntN(3) {
	case 0:
		return q, args, false
	case 1:
		q += " ORDER BY " + unique + pick(r, "", " DESC")
	default:
		q += " ORDER BY p.name" + pick(r, "", " DESC", " NULLS FIRST") + ", " + unique
	}
	switch r.IntN(3) {
	case 0:
		q += fmt.Sprintf(" LIMIT %d", r.IntN(20))
	case 1:
		q += fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)+1, len(args)+2)
		args = append(args, r.IntN(30), r.IntN(20))
	}
	return q, args, true
}

// hasEncryptedLeaf: the tree has a comparison phiguard evaluates
// (genEncryptedLeaf marks each).
func hasEncryptedLeaf(tree string) bool { return strings.Contains(tree, "/*enc*/") }

// genTree is a boolean tree of up to depth levels.
func genTree(r *rand.Rand, join bool, args *[]any, depth int) string {
	if depth == 0 || r.IntN(3) == 0 {
		if r.IntN(5) < 3 {
			return genEncryptedLeaf(r, join, args)
		}
		return genPlainLeaf(r, join, args)
	}
	switch r.IntN(5) {
	case 0:
		sub := genTree(r, join, args, depth-1)
		if r.IntN(3) == 0 {
			return "NOT " + sub // binds looser than a comparison, tighter than AND
		}
		return "NOT (" + sub + ")"
	case 1, 2:
		return genJoined(r, join, args, depth, " OR ")
	}
	return genJoined(r, join, args, depth, " AND ")
}

// genJoined is two or three subtrees joined by op, each in parentheses
// or not (the text means what PostgreSQL's precedence makes of it, on
// both sides).
func genJoined(r *rand.Rand, join bool, args *[]any, depth int, op string) string {
	var parts []string
	for range 2 + r.IntN(2) {
		p := genTree(r, join, args, depth-1)
		if r.IntN(3) > 0 {
			p = "(" + p + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, op)
}

// genEncryptedLeaf is a comparison phiguard evaluates, marked by a
// comment (which neither side's answer depends on).
func genEncryptedLeaf(r *rand.Rand, join bool, args *[]any) string {
	i := r.IntN(len(filterColumns))
	if filterColumns[i].join && !join {
		i = 0
	}
	c := filterColumns[i]
	constant := func() string {
		switch n := r.IntN(10); {
		case n == 0:
			return "NULL"
		case n < 4:
			*args = append(*args, c.params[r.IntN(len(c.params))])
			return fmt.Sprintf("$%d", len(*args))
		}
		return c.consts[r.IntN(len(c.consts))]
	}
	leaf := ""
	switch op := r.IntN(14); {
	case op >= 11 && c.like:
		leaf = c.col + pick(r, " LIKE ", " NOT LIKE ", " ILIKE ", " NOT ILIKE ") + likePattern(r, args) // %% is f.sql's %
	case op < 6:
		sym := pick(r, "=", "<>", "<", "<=", ">", ">=")
		if c.col == "p.tag" {
			sym = pick(r, "<", "<=", ">", ">=") // = and <> on the deterministic tag stay in the database
		}
		leaf = c.col + " " + sym + " " + constant()
	case op < 9:
		leaf = c.col + " " + pick(r, "BETWEEN", "NOT BETWEEN", "BETWEEN SYMMETRIC") + " " + constant() + " AND " + constant()
	default:
		leaf = c.col + pick(r, " IS DISTINCT FROM ", " IS NOT DISTINCT FROM ") + constant()
	}
	return "/*enc*/ " + leaf
}

// genPlainLeaf is a predicate the database computes.
func genPlainLeaf(r *rand.Rand, join bool, args *[]any) string {
	leaves := []string{"p.grp = 2", "p.id < 60", "p.grp IN (1, 3)", "p.grp NOT IN (0, 4)", "p.grp BETWEEN 1 AND 3",
		"p.tag = 't3'", "p.tag IS NULL", "p.name IS NOT NULL", "p.born IS NULL", "true", "NULL", "p.grp <> $"}
	if join {
		leaves = append(leaves, "a.active", "a.active IS NOT TRUE", "a.sequence = 1", "a.sequence IS NULL", "a.sequence >= $",
			"a.sequence IS DISTINCT FROM 2")
	}
	l := leaves[r.IntN(len(leaves))]
	if strings.HasSuffix(l, "$") {
		*args = append(*args, r.IntN(4))
		l += fmt.Sprint(len(*args))
	}
	return l
}
