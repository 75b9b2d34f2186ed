package cellcipher

import (
	"errors"
	"slices"
	"unicode/utf8"

	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/keys"
)

// A LIKE or ILIKE pattern turned into the match terms every matching
// value's cell holds (docs/design/search-terms.md §4.5, slice 6). The
// pattern is in PostgreSQL's own form after like_escape: % any run, _ one
// character, \ makes the next byte literal. It splits into literal runs at
// the unescaped % and _; each run is lowered under the column's locale
// (as n(v) is); the first run is anchored when the pattern starts with it.
// An anchored run gives the anchored token of its first min(3, len) code
// points, every run of 3 or more code points its trigrams.
//
// Why every match holds them: LIKE compares a run's bytes with the
// value's, from a character boundary (the pattern is valid UTF-8 and the
// split points are ASCII), so the run is a substring of the value, and a
// prefix when anchored; lower() maps character by character (towlower_l
// or ASCII), so the lowered run is a substring (a prefix) of n(v), and
// its trigrams are among M(v)'s. ILIKE is LIKE of lower(value) and
// lower(pattern) under the same collation: lower(pattern)'s runs are the
// lowered runs (lower neither makes nor maps %, _ or \), and they occur in
// lower(value), which is n(v). The same tokens serve both.

// PatternTerms is what a pattern sends: Prefix, the prefix key X of an
// anchored run of 3 or more code points (only when asked for: the column
// has order and match), and Tokens, the match tokens every candidate's M
// holds (without the ones Prefix implies). Both empty: the pattern gives
// no term (%mi%, an empty pattern), and the filter stays in phiguard.
type PatternTerms struct {
	Prefix string
	Tokens []string
}

// Empty: the pattern narrows nothing.
func (p PatternTerms) Empty() bool { return p.Prefix == "" && len(p.Tokens) == 0 }

// errPatternEnd: a pattern ending in its escape character. PostgreSQL
// raises an error only when a match reaches it, which phiguard's re-check
// does on the rows it sees; such a pattern gets no term, so every row
// reaches the re-check as without terms.
var errPatternEnd = errors.New("cellcipher: LIKE pattern ends with its escape character")

// LikeRuns splits a pattern (after like_escape) into its literal runs,
// and says whether the first is anchored at the value's start.
func LikeRuns(pattern []byte) (runs [][]byte, anchored bool, err error) {
	var cur []byte
	started := false // a run is being read (an escaped byte counts)
	anchored = true
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '%', '_':
			if started {
				runs = append(runs, cur)
			} else if len(runs) == 0 {
				anchored = false
			}
			cur, started = nil, false
			continue
		case '\\':
			i++
			if i == len(pattern) {
				return nil, false, errPatternEnd
			}
			c = pattern[i]
		}
		cur, started = append(cur, c), true
	}
	if started {
		runs = append(runs, cur)
	}
	if len(runs) == 0 {
		anchored = false
	}
	return runs, anchored, nil
}

// MatchPatternTerms is PatternTerms for a pattern (after like_escape) on
// a column whose match terms are keyed by t and lowered under loc (nil: C
// or POSIX); prefixKey says the column stores X (order and match).
func MatchPatternTerms(t *keys.Terms, loc *pgcollate.Locale, pattern []byte, prefixKey bool) (PatternTerms, error) {
	var out PatternTerms
	if !utf8.Valid(pattern) {
		return out, errors.New("cellcipher: LIKE pattern is not valid UTF-8")
	}
	runs, anchored, err := LikeRuns(pattern)
	if err != nil {
		return out, err
	}
	var toks []string
	for i, run := range runs {
		n, err := lowerRun(loc, run)
		if err != nil {
			return out, err
		}
		cps := codePoints(n)
		first := 0
		if i == 0 && anchored {
			k := min(3, len(cps))
			if prefixKey && k == 3 {
				out.Prefix = AnchoredToken(t, string(cps[:3]))
			} else {
				toks = append(toks, AnchoredToken(t, string(cps[:k])))
			}
			if k == 3 {
				first = 1 // the first trigram is implied by the anchored token
			}
		}
		for j := first; j+3 <= len(cps); j++ {
			toks = append(toks, t.Token([]byte(string(cps[j:j+3]))))
		}
	}
	slices.Sort(toks)
	out.Tokens = slices.Compact(toks)
	return out, nil
}

// lowerRun is n of a run, as MatchInput computes n(v).
func lowerRun(loc *pgcollate.Locale, run []byte) ([]byte, error) {
	if loc != nil {
		return loc.Lower(run)
	}
	return asciiLower(run), nil
}
