package sqlrewrite

import pg_query "github.com/pganalyze/pg_query_go/v5"

// The WHERE a sorted or filtered read's rewrite cuts may start with the
// plan's lack probes (scope_probe.go), put there before the client's
// first conjunct:
//
//	WHERE (SELECT "tag" FROM (SELECT NULL AS "tag") AS phiguard_lacks, ONLY "z" AS phiguard_1 LIMIT 0) IS NULL AND <the client's WHERE>
//
// They are not conjuncts of the plan's: the cut skips them, and keeps
// them in the text it sends (in a subquery's array of cells too), so that
// PostgreSQL still checks the names. It skips as many as the plan put
// there (SortPlan.probes, subGroup.probes), no more: a client's conjunct
// of the same form after them is the client's. Skipped too, followed by a
// parenthesised AND, it shifted the cut by one conjunct with the count
// unchanged ((a AND b) AND c flattens to three behind it): a filter's
// conjunct was sent to the database with its constant and another sent
// as true (red team 39).

// pastProbes is the first token of [from, to) after the n lack probes
// that start it; false when fewer stand there.
func (c *sortCut) pastProbes(from, to, n int) (int, bool) {
	for ; n > 0; n-- {
		next, ok := c.probeAt(from, to)
		if !ok {
			return 0, false
		}
		from = next
	}
	return from, true
}

// probeAt says whether tokens from at on are `(SELECT ... AS
// phiguard_lacks ...) IS NULL AND` with more after it, and answers the
// token after the AND.
func (c *sortCut) probeAt(at, to int) (int, bool) {
	if at+1 >= to || c.tok(at) != pg_query.Token_ASCII_40 || c.tok(at+1) != pg_query.Token_SELECT {
		return 0, false
	}
	end := c.closing(at, to)
	if end < 0 || end+4 >= to || c.tok(end+1) != pg_query.Token_IS || c.tok(end+2) != pg_query.Token_NULL_P || c.tok(end+3) != pg_query.Token_AND {
		return 0, false
	}
	for i := at + 1; i+1 < end; i++ {
		if c.depth[i] == c.depth[at]+1 && c.tok(i) == pg_query.Token_AS && c.text([2]int{i + 1, i + 2}) == probeAlias {
			return end + 4, true
		}
	}
	return 0, false
}

// conjunctsPastProbes is how many conjuncts a parsed WHERE has after its
// n lack probes, counted as PostgreSQL counts them without the probes: it
// flattens the ANDs of a WHERE's first operand only, so behind a probe
// (a AND b) AND c is two conjuncts, and without it three. TRUE AND a OR
// b, a disjunction kept whole, is one. -1 when the n probes are not
// there.
func conjunctsPastProbes(where *pg_query.Node, n int) int {
	b := where.GetBoolExpr()
	if n == 0 || b == nil || b.GetBoolop() != pg_query.BoolExprType_AND_EXPR {
		return whereConjuncts(where)
	}
	args := b.GetArgs()
	if len(args) <= n {
		return -1
	}
	for _, a := range args[:n] {
		if !isProbe(a) {
			return -1
		}
	}
	return len(args) - n - 1 + whereConjuncts(args[n])
}

// isProbe says whether a conjunct is a lack probe: (SELECT ... FROM
// (...) AS phiguard_lacks ...) IS NULL.
func isProbe(n *pg_query.Node) bool {
	nt := n.GetNullTest()
	from := nt.GetArg().GetSubLink().GetSubselect().GetSelectStmt().GetFromClause()
	return nt.GetNulltesttype() == pg_query.NullTestType_IS_NULL && len(from) > 0 &&
		from[0].GetRangeSubselect().GetAlias().GetAliasname() == probeAlias
}
