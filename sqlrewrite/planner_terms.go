package sqlrewrite

import (
	"github.com/phiguard/phiguard/policy"
)

// Search terms (docs/design/search-terms.md §4.3, §4.4, §4.6; slice 4):
// a proxy-side filter on a column whose policy has `search_state: ready`
// and the right term gets a term conjunct the database can evaluate
// through the column's term index, in the place of the `true` that
// stands for the client's conjunct in the text sent (sort_terms.go). The
// client's conjunct is still evaluated by the proxy on every row's
// decrypted value, so the term only narrows the rows the database
// returns: every row satisfying the client's conjunct satisfies the term
// conjunct (a term is a superset filter), and a candidate that does not
// satisfy the client's conjunct (a term collision, a term overwritten in
// the database) is dropped by the re-check.

// TermKind is the term a filter's term conjunct compares.
type TermKind uint8

const (
	TermNone TermKind = iota
	// TermEq: phiguard.term_eq_v1(col) = E(a), for = on a column with
	// an equality term (randomized).
	TermEq
	// TermOrd: phiguard.term_ord_v1(col) compared with O(a) (and O(b)
	// for BETWEEN): >= for > and >=, <= for < and <=, = for = on a
	// column with an order term and no equality term. Not stricter: a
	// coarse order term ties values on both sides of a constant.
	TermOrd
	// TermMatch: phiguard.term_pre_v1(col) = X and/or
	// phiguard.term_match_v1(col) @> tokens, for LIKE and ILIKE on a
	// column with a match term (planner_terms_like.go).
	TermMatch
)

func (k TermKind) String() string {
	return [...]string{"", "equality term", "order term", "match term"}[k]
}

// suffix describes the term in golden tests' filter lists.
func (k TermKind) suffix() string {
	if k == TermNone {
		return ""
	}
	return " with " + k.String()
}

// termFor is the term a filter can use: only a conjunct of the
// statement's own WHERE (not a subquery's), on the bare column, with
// constants the proxy reads in the column's type (not lower() or upper()
// of either side, not TRUE or FALSE), on a column whose terms are ready.
// <>, NOT BETWEEN, BETWEEN SYMMETRIC, IS [NOT] DISTINCT FROM and LIKE use
// none: a term cannot narrow them (or, for IS NOT DISTINCT FROM NULL, a
// NULL term would hide the NULL cells it matches).
//
// While the column is `rekeying` (a change of search_key_version, §5.3)
// only = gets a term, the equality term under every loaded version
// (sort_term_versions.go): order terms of two versions do not compare,
// so ranges, BETWEEN and = on a column with an order term only run in
// phiguard, as a LIKE with a parameter pattern does (a literal pattern's
// match conjunct lists every version's terms).
func termFor(f Filter) TermKind {
	col := f.Column
	ready := col.SearchState == policy.SearchReady
	if f.Group != 0 || !ready && col.SearchState != policy.SearchRekeying || f.ColumnFold != FoldNone {
		return TermNone
	}
	for _, a := range f.Args {
		if a.Fold != FoldNone || a.Bool != "" {
			return TermNone
		}
	}
	eq := col.Search.Has(policy.SearchEquality) && col.Mode == policy.ModeRandomized
	ord := ready && col.Search.Has(policy.SearchOrder)
	switch f.Op {
	case FilterEq:
		if eq {
			return TermEq
		}
		if ord {
			return TermOrd
		}
	case FilterLt, FilterLe, FilterGt, FilterGe, FilterBetween:
		if ord {
			return TermOrd
		}
	case FilterLike, FilterILike:
		// While rekeying, a pattern given as literals sends the terms of
		// every loaded version, one pair each (matchConjunct); a parameter
		// pattern's variants send one version's, which would miss the
		// cells of another, so it runs in phiguard.
		if ready || literalPattern(f) {
			return likeTerm(f) // planner_terms_like.go
		}
	}
	return TermNone
}

// planTerms gives each filter its term (Filter.Term): only a filter that
// is a whole conjunct of the statement's WHERE may have one, never one
// inside a larger conjunct (under OR or NOT, where a term conjunct in the
// place of the whole would drop rows another branch keeps) or in a
// subquery. The filters of group 0 are sp.cands, in order.
func (sp *SortPlan) planTerms() {
	k := 0
	for i := range sp.Filters {
		if sp.Filters[i].Group != 0 {
			continue
		}
		if k < len(sp.cands) && sp.cands[k].whole {
			sp.Filters[i].Term = termFor(sp.Filters[i])
		}
		k++
	}
}
