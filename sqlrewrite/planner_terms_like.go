package sqlrewrite

import (
	"errors"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/policy"
)

// LIKE and ILIKE through match terms (docs/design/search-terms.md §4.5,
// slice 6). A LIKE or ILIKE conjunct of the statement's own WHERE on a
// ready column with `match` gets TermMatch; the proxy turns the pattern
// into the terms every matching value's cell holds
// (cellcipher.MatchPatternTerms) and the conjunct sent is
//
//	phiguard.term_pre_v1(col) OPERATOR(pg_catalog.=) X
//	    an anchored run of 3 or more code points on a column with order
//	    and match (the index (term_pre_v1, term_ord_v1))
//	phiguard.term_match_v1(col) OPERATOR(pg_catalog.@>) '{tok,…}'::pg_catalog.bytea[]
//	    any other pattern with tokens (the GIN index)
//	(pre AND match)
//	    both, when the prefix leaves other tokens
//
// and `true` when the pattern gives none (%mi%, an empty pattern, one
// ending in its escape): the conjunct is then phiguard's alone, as
// without terms. NOT LIKE and NOT ILIKE get no term (a term cannot narrow
// them). The terms are superset filters: phiguard still evaluates the
// client's LIKE on each candidate's decrypted value.
//
// For TermMatch a filter's TermArgs are two: [0] the prefix key, [1] the
// tokens; a zero TermArg is one the pattern does not send. While the
// column is rekeying (a literal pattern only, literalPattern) they are
// two per loaded version, and the conjunct is the OR of each version's:
// a cell carries the terms of one version or the other
// (docs/design/search-terms.md §5.3), and GIN and btree serve an OR as
// a BitmapOr of the versions' scans.

// literalPattern: a LIKE's pattern and ESCAPE are literals, whose terms
// the proxy computes once under every version.
func literalPattern(f Filter) bool {
	return f.Args[0].Param == 0 && !(f.HasEscape && f.Escape.Param > 0)
}

// likeTerm is the term of a LIKE or ILIKE filter (termFor has checked
// the rest): a match term when the column has one.
func likeTerm(f Filter) TermKind {
	if !f.Column.Search.Has(policy.SearchMatch) || f.HasEscape && (f.Escape.Fold != FoldNone || f.Escape.Bool != "") {
		return TermNone
	}
	return TermMatch
}

// sent: the pattern sends this part of the match conjunct.
func (a TermArg) sent() bool {
	return a.Param > 0 || a.Null || a.Value != nil || a.Tokens != nil
}

// matchAnds: the match conjunct is an AND of the prefix and the tokens
// (which, first in the WHERE, PostgreSQL's grammar flattens into it).
func matchAnds(f Filter, args []TermArg) bool {
	return f.Term == TermMatch && len(args) == 2 && args[0].sent() && args[1].sent()
}

// matchConjunct is the match term conjunct on the column written column:
// one version's pair of args, or the OR of several versions' pairs.
func matchConjunct(column string, args []TermArg) (string, error) {
	if len(args) > 2 && len(args)%2 == 0 {
		var ors []string
		for i := 0; i < len(args); i += 2 {
			c, err := matchConjunct(column, args[i:i+2])
			if err != nil {
				return "", err
			}
			ors = append(ors, c)
		}
		return "(" + strings.Join(ors, " OR ") + ")", nil
	}
	if len(args) != 2 || !args[0].sent() && !args[1].sent() {
		return "", errors.New("a match term conjunct without its terms")
	}
	var parts []string
	if args[0].sent() {
		if args[0].Array || args[0].Tokens != nil {
			return "", errors.New("a prefix key given as an array")
		}
		parts = append(parts, "phiguard.term_pre_v1("+column+") OPERATOR(pg_catalog.=) "+args[0].text())
	}
	if args[1].sent() {
		if !args[1].Array && args[1].Tokens == nil {
			return "", errors.New("match tokens given as one value")
		}
		if args[1].Tokens != nil && !tokensText(args[1].Tokens) {
			return "", errors.New("match tokens that are not tokens")
		}
		parts = append(parts, "phiguard.term_match_v1("+column+") OPERATOR(pg_catalog.@>) "+args[1].text())
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return "(" + strings.Join(parts, " AND ") + ")", nil
}

// arrayText writes an array of tokens: a parameter, or a literal whose
// elements are base64url tokens (tokensText), which need no quoting in an
// array literal and no escaping under either standard_conforming_strings.
func (a TermArg) arrayText() string {
	if a.Param > 0 {
		return "$" + strconv.Itoa(a.Param) + "::pg_catalog.bytea[]"
	}
	return "'{" + strings.Join(a.Tokens, ",") + "}'::pg_catalog.bytea[]"
}

// tokensText: a non-empty list of non-empty base64url tokens (never
// '{}': every array contains the empty one, and GIN would read the whole
// index for it).
func tokensText(toks []string) bool {
	for _, t := range toks {
		if t == "" || strings.Trim(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return len(toks) > 0
}
