package sqlrewrite

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// The text half of the term conjuncts (planner_terms.go): where the
// WHERE's filter conjunct is replaced by `true` (sort_filter.go), a filter
// with a term gets its term conjunct instead, one conjunct still, so the
// WHERE keeps its count of conjuncts:
//
//	col = a              ->  phiguard.term_eq_v1(col) OPERATOR(pg_catalog.=) E(a)
//	col >= a, col > a    ->  phiguard.term_ord_v1(col) OPERATOR(pg_catalog.>=) O(a)
//	col <= b, col < b    ->  phiguard.term_ord_v1(col) OPERATOR(pg_catalog.<=) O(b)
//	col BETWEEN a AND b  ->  (phiguard.term_ord_v1(col) OPERATOR(pg_catalog.>=) O(a)
//	                          AND phiguard.term_ord_v1(col) OPERATOR(pg_catalog.<=) O(b))
//
// Every operator is pg_catalog's, whatever the session's search_path
// (BETWEEN would look >= and <= up by it). PostgreSQL's grammar flattens
// the ANDs of a WHERE's first operand, so a BETWEEN's term conjunct in the
// first place adds one to the WHERE's count of conjuncts (flattened);
// elsewhere it stays one nested conjunct.
//
// The term constants are the proxy's (it computes them with the keys from
// the client's constants): a bytea literal written E'\\x…' (read the same
// under either standard_conforming_strings), or a parameter $n the proxy
// adds and fills at each Bind. The client's constants are not in it.

// TermArg is one constant of a term conjunct: Param > 0 is a parameter
// the proxy adds ($Param, declared bytea), Null a NULL (the client's
// constant is NULL: the conjunct, like the client's, is never true),
// otherwise Value, the term's bytes.
type TermArg struct {
	Param int
	Null  bool
	Value []byte
	// Tokens is a match term's literal array of tokens, Array a
	// parameter declared bytea[] (planner_terms_like.go, and an equality
	// term under several versions, sort_term_versions.go).
	Tokens []string
	Array  bool
	// Versions: an equality term under several term key versions
	// (sort_term_versions.go).
	Versions [][]byte
}

func (a TermArg) text() string {
	switch {
	case a.Array || a.Tokens != nil:
		return a.arrayText() // planner_terms_like.go
	case a.Param > 0:
		return "$" + strconv.Itoa(a.Param) + "::pg_catalog.bytea"
	case a.Null:
		return "NULL::pg_catalog.bytea"
	}
	return `E'\\x` + hex.EncodeToString(a.Value) + `'::pg_catalog.bytea`
}

// termConjunct is the term conjunct of filter f on the column written
// column, with its constants args (two for BETWEEN).
func termConjunct(f Filter, column string, args []TermArg) (string, error) {
	if f.Term == TermMatch {
		return matchConjunct(column, args) // planner_terms_like.go
	}
	fn := map[TermKind]string{TermEq: "phiguard.term_eq_v1(", TermOrd: "phiguard.term_ord_v1("}[f.Term]
	if fn == "" || len(args) != map[bool]int{true: 2, false: 1}[f.Op == FilterBetween] {
		return "", errors.New("a term conjunct without its constants")
	}
	term := fn + column + ")"
	switch f.Op {
	case FilterEq:
		if operand, ok := args[0].anyText(); ok {
			return term + " OPERATOR(pg_catalog.=) ANY (" + operand + ")", nil
		}
		return term + " OPERATOR(pg_catalog.=) " + args[0].text(), nil
	case FilterGt, FilterGe:
		return term + " OPERATOR(pg_catalog.>=) " + args[0].text(), nil
	case FilterLt, FilterLe:
		return term + " OPERATOR(pg_catalog.<=) " + args[0].text(), nil
	case FilterBetween:
		return "(" + term + " OPERATOR(pg_catalog.>=) " + args[0].text() + " AND " + term + " OPERATOR(pg_catalog.<=) " + args[1].text() + ")", nil
	}
	return "", errors.New("a term conjunct for an operator that has none")
}

// RewriteSortTerms is RewriteSort with term conjuncts: terms[i] are the
// constants of sp.Filters[i]'s term conjunct, nil for a filter that
// sends none this time (a term the proxy could not compute for its
// constant: the conjunct is `true`, as without terms). natives are the
// session's integer columns (sort_native.go), nil for none.
func RewriteSortTerms(sql []byte, sp *SortPlan, terms [][]TermArg, natives NativeColumn) ([]byte, error) {
	if !hasTerms(terms) {
		return rewriteSortWith(sql, sp, natives)
	}
	if len(terms) != len(sp.Filters) {
		return nil, errors.New("term constants disagree with the statement's plan")
	}
	return memoTerms(sp, sql, terms, "", natives, func() ([]byte, error) {
		return rewriteSortCut(sql, sp, func(c *sortCut) error {
			c.natives = natives
			return c.placeTerms(sp, terms)
		})
	})
}

// memoTerms is rewrite's text, from the plan's memo when the last
// rewrite with terms had the same text, term constants and round
// multiplier: a statement run again with the same literals (a screen
// refreshed, an unnamed statement parsed at each execution) has the same
// terms (they are keyed, deterministic), and the rewrite (a parse of the
// client's text and of the result) was most of what a round of ~100 rows
// cost phiguard (BENCHMARKS.md, bench-search's first query).
func memoTerms(sp *SortPlan, sql []byte, terms [][]TermArg, mult string, natives NativeColumn, rewrite func() ([]byte, error)) ([]byte, error) {
	// The key is written on the stack (a statement's text and terms
	// rarely pass 1 KB) and made a string only for a new memo.
	var buf [1024]byte
	key := termsMemoKey(buf[:0], sql, terms, mult)
	key = strconv.AppendUint(append(key, 4), sp.nativeMask(natives), 16)
	if m := sp.lastTerms.Load(); m != nil && m.in == string(key) {
		return bytes.Clone(m.out), nil
	}
	out, err := rewrite()
	if err == nil {
		sp.lastTerms.Store(&sortRewriteMemo{in: string(key), out: bytes.Clone(out)})
	}
	return out, err
}

// termsMemoKey appends to b every input of a rewrite with terms, each
// field of each constant, so that two keys are equal only for one
// output. It appends with strconv and hex rather than fmt: ~7 µs of each
// Parse of bench-search's first query went to Fprintf.
func termsMemoKey(b, sql []byte, terms [][]TermArg, mult string) []byte {
	b = append(append(append(b, sql...), 0), mult...)
	for _, args := range terms {
		b = append(b, 1)
		if args == nil {
			b = append(b, 2)
			continue
		}
		for _, a := range args {
			b = strconv.AppendInt(append(b, 3), int64(a.Param), 10)
			b = strconv.AppendBool(append(b, '|'), a.Null)
			b = strconv.AppendBool(append(b, '|'), a.Array)
			b = hex.AppendEncode(append(b, '|'), a.Value)
			b = append(b, '|', '[')
			for _, t := range a.Tokens {
				b = append(strconv.AppendQuote(b, t), ' ')
			}
			b = append(b, ']', '|')
			for _, v := range a.Versions {
				b = append(hex.AppendEncode(b, v), ',')
			}
		}
	}
	return b
}

func hasTerms(terms [][]TermArg) bool {
	for _, t := range terms {
		if t != nil {
			return true
		}
	}
	return false
}

// placeTerms writes the term conjuncts of the statement's own WHERE's
// filters (c.filters follows the filters of group 0 in order).
func (c *sortCut) placeTerms(sp *SortPlan, terms [][]TermArg) error {
	c.terms = make([]string, len(c.filters))
	k := 0
	for i, f := range sp.Filters {
		if f.Group != 0 || f.Having { // a HAVING's is cut with it
			continue
		}
		if k >= len(c.filters) {
			return errors.New("the WHERE's filters do not match the statement's plan")
		}
		if f.Term != TermNone && terms[i] != nil {
			if !c.wholeConjunct(c.filters[k]) {
				return errors.New("a term for a filter that is not a whole conjunct")
			}
			text, err := termConjunct(f, c.text(c.filters[k].column), terms[i])
			if err != nil {
				return err
			}
			c.terms[k] = text
			if (f.Op == FilterBetween || matchAnds(f, terms[i])) && sp.cands[k].conjunct == 0 {
				c.flattened = 1
			}
		}
		k++
	}
	return nil
}

// wholeConjunct: the filter's operands span its whole conjunct (inside
// any parentheses around it), so that its term conjunct may stand in the
// conjunct's place.
func (c *sortCut) wholeConjunct(fc filterCut) bool {
	a, b := fc.conjunct[0], fc.conjunct[1]
	for b-a > 2 && c.tok(a) == pg_query.Token_ASCII_40 && c.closing(a, b) == b-1 {
		a, b = a+1, b-1
	}
	lo, hi := min(fc.column[0], fc.args[0][0]), max(fc.column[1], fc.args[0][1], fc.args[1][1], fc.escape[1])
	if fc.escape[1] > fc.escape[0] && hi == b-1 && c.tok(hi) == pg_query.Token_ASCII_41 {
		hi = b // the ) of pg_catalog.like_escape(pattern, e)
	}
	return lo == a && hi == b
}

// conjunctText is what replaces the k-th filter's conjunct: its term
// conjunct, or true.
func (c *sortCut) conjunctText(k int) string {
	if k < len(c.terms) && c.terms[k] != "" {
		return c.terms[k]
	}
	return "true"
}
