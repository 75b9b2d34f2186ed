package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
)

// Proxy-side DISTINCT (issue 13). A randomized column's cells are all
// different, so the database cannot tell two equal values apart. A
// top-level SELECT DISTINCT whose select list reads one is sent without
// its DISTINCT (sort_rewrite.go), with hidden columns that let phiguard
// remove the duplicate rows itself after decryption, before its ORDER BY,
// OFFSET and LIMIT (guard/protect_distinct.go):
//
//   - each encrypted select-list entry is compared on its decrypted value
//     with PostgreSQL's equality for its type (internal/pgorder); a text
//     one under a deterministic collation only (bytes), which a hidden
//     probe of the column's collation tells;
//   - the plaintext entries are compared by the rank PostgreSQL gives the
//     row under them (dense_rank() OVER (ORDER BY the entries)), so their
//     equality stays PostgreSQL's own.
//
// Rows equal under all of them are one row; when two such rows print
// differently (numeric 1.0 and 1.00, float -0 and 0, interval '1 mon'
// and '30 days'), PostgreSQL would return whichever its plan met first,
// so phiguard refuses the result instead of guessing.

// distinctOn: DISTINCT ON (...), which keeps one row per group by the
// ORDER BY, and which phiguard does not evaluate.
func distinctOn(s *pg_query.SelectStmt) bool {
	for _, d := range s.GetDistinctClause() {
		if d.GetNode() != nil {
			return true
		}
	}
	return false
}

// distinctInProxy decides a SELECT DISTINCT whose select list reads a
// column the database cannot compare (outs): phiguard removes the
// duplicates when the statement is a shape it evaluates, and the
// statement is refused otherwise. It returns whether phiguard must.
func (p *planner) distinctInProxy(s *pg_query.SelectStmt, sc *scope, top bool, outs map[string]*policy.ProtectedColumn) bool {
	var col *policy.ProtectedColumn
	for _, t := range s.GetTargetList() {
		if ref := t.GetResTarget().GetVal().GetColumnRef(); ref != nil {
			kind, c := sc.resolve(ref)
			if kind == refStar && randomizedUnder(sc) != nil && col == nil {
				col = randomizedUnder(sc)
			}
			if kind == refColumn && !byCell(c) && col == nil {
				col = c
			}
		}
	}
	for _, c := range outs {
		if !byCell(c) && col == nil {
			col = c
		}
	}
	if col == nil {
		return false
	}
	if distinctOn(s) || sortShapeProblem(s, top) != "" || hasAggregateCall(s) {
		p.refuse(col, "DISTINCT")
		return false
	}
	return true
}

// randomizedUnder is a column of the innermost level's relations that the
// database cannot compare by its cells, or nil.
func randomizedUnder(sc *scope) *policy.ProtectedColumn {
	for _, r := range sc.relations {
		for _, c := range r.protectedColumns() {
			if !byCell(c) {
				return c
			}
		}
	}
	return nil
}

// distinctPlan lays out the keys phiguard removes duplicates by: one per
// encrypted select-list entry, and a rank of the plaintext ones.
func (p *planner) distinctPlan(s *pg_query.SelectStmt, sc *scope, items []sortItem) {
	sp := p.plan.Sort
	targets := s.GetTargetList()
	add := func(h hiddenColumn) int {
		sp.hidden = append(sp.hidden, h)
		return len(sp.hidden) - 1
	}
	var plain []int
	for i, t := range targets {
		ref := t.GetResTarget().GetVal().GetColumnRef()
		var kind refKind
		var col *policy.ProtectedColumn
		if ref != nil {
			kind, col = sc.resolve(ref)
		}
		switch {
		case ref != nil && refNames(ref) == "":
			p.refuse(firstColumn(sc), "DISTINCT with * in the select list (name the columns)")
			return
		case kind == refColumn:
			if !p.addEqualityKey(sp, col, i, "DISTINCT", add) {
				return
			}
		default:
			plain = append(plain, i)
		}
	}
	if len(plain) > 0 {
		sp.Distinct = append(sp.Distinct, SortKey{Value: add(hiddenColumn{kind: hiddenDistinctRank, targets: plain}), Target: -1, Collation: -1})
	}
	for _, it := range items {
		if it.target < 0 && !inSelectList(it.node, targets) {
			col := it.col
			if col == nil {
				col = firstColumn(sc)
			}
			p.refuse(col, "DISTINCT with an ORDER BY key not written as a select-list entry (PostgreSQL requires it in the select list)")
			return
		}
	}
	sp.Hidden = len(sp.hidden)
}

// inSelectList: an ORDER BY expression written as a select-list entry is.
func inSelectList(n *pg_query.Node, targets []*pg_query.Node) bool {
	for _, t := range targets {
		if sameExpr(n, t.GetResTarget().GetVal()) {
			return true
		}
	}
	return false
}

// distinctString describes the DISTINCT keys for golden tests.
func distinctString(keys []SortKey) string {
	var out []string
	for _, k := range keys {
		if k.Column == nil {
			out = append(out, fmt.Sprintf("rank (#%d)", k.Value))
			continue
		}
		out = append(out, fmt.Sprintf("%s (select-list entry %d)", k.Column.QualifiedName(), k.Target+1))
	}
	return "proxy removes duplicates by " + strings.Join(out, ", ")
}

// addEqualityKey adds col, select-list entry i, to the keys phiguard
// groups rows by after decryption (DISTINCT, GROUP BY: construct), with
// the probe of whether a text column's collation is deterministic; false
// when the type has no equality phiguard knows (refused).
func (p *planner) addEqualityKey(sp *SortPlan, col *policy.ProtectedColumn, i int, construct string, add func(hiddenColumn) int) bool {
	if !pgorder.Sortable(col.Type) {
		p.refuse(col, construct+" on a column of type "+col.Type.Name+" (phiguard does not compare it)")
		return false
	}
	k := SortKey{Column: col, Target: i, Collation: -1}
	if textType(col.Type) {
		k.Collation = add(hiddenColumn{kind: hiddenDeterministic, col: col})
	}
	sp.Distinct = append(sp.Distinct, k)
	return true
}
