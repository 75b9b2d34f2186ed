package guard

import (
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// LIKE and ILIKE through match terms (docs/design/search-terms.md §4.5;
// sqlrewrite/planner_terms_like.go). A filter with TermMatch whose
// pattern (and ESCAPE) are literals sends, in the conjunct's place, the
// prefix key and/or the match tokens of its pattern, computed here when
// the statement arrives (Query) or is prepared (Parse), with the
// column's term keys and under the collation its cells' terms were
// written under (termLocale, protect_terms.go): a literal bytea and a
// literal bytea[], never the pattern. A pattern given as a parameter
// gets its terms at each Bind, in a variant of the statement
// (protect_search_variants.go), through the same likeTermArgs. A pattern
// that gives no token
// (%mi%), ends in its escape, is NULL, or whose ESCAPE is NULL or invalid
// sends none either, and so does every pattern on a column whose match
// terms phiguard.search_objects does not record under the collation (its
// LC_CTYPE, which lower() follows) the catalog reports now
// (term_records.go): the answer is phiguard's re-check's, and an error
// PostgreSQL would raise is raised by the re-check as without terms.

// likeTermArgs is the match conjunct's constants of filter f, whose
// literal constants are fa (nil: none read), or nil for no term.
func (s *Session) likeTermArgs(f sqlrewrite.Filter, fa *filterArgs) []sqlrewrite.TermArg {
	if fa == nil || f.Args[0].Param > 0 || f.HasEscape && f.Escape.Param > 0 || fa.args[0].null ||
		!s.termsCurrent(f.Column, termRecordMatch) { // term_records.go: built under the collation the column has now
		return nil
	}
	pattern := fa.args[0].pattern
	if f.HasEscape {
		if !fa.hasEscape || fa.escapeNull {
			return nil
		}
		p, pe := likeEscape(pattern, fa.escape)
		if pe != nil {
			return nil
		}
		pattern = p
	}
	// One pair per term version: search_key_version's, and while the
	// column is rekeying every loaded version's (the conjunct is their
	// OR, sqlrewrite's matchConjunct).
	versions := []uint32{f.Column.SearchKeyVersion} // TermVersions' answer but while rekeying, without its allocation
	if f.Column.SearchState == policy.SearchRekeying {
		var err error
		if versions, err = cellcipher.TermVersions(s.srv.protect.cipher().Keyring, f.Column); err != nil {
			return nil
		}
	}
	loc, pe := s.termLocale(f.Column)
	if pe != nil {
		return nil
	}
	args := make([]sqlrewrite.TermArg, 0, 2*len(versions))
	for _, v := range versions {
		pt, ok := s.patternTerms(f.Column, loc, pattern, v)
		if !ok || pt.Empty() {
			return nil
		}
		var pair [2]sqlrewrite.TermArg
		if pt.Prefix != "" {
			pair[0].Value = []byte(pt.Prefix)
		}
		if len(pt.Tokens) > 0 {
			pair[1].Tokens = pt.Tokens
		}
		args = append(args, pair[:]...)
	}
	return args
}

// patternTerms is cellcipher.MatchPatternTerms for col's terms: its
// keys at term version v, its term locale loc (termLocale), and the
// prefix key when the column stores one (order and match).
func (s *Session) patternTerms(col *policy.ProtectedColumn, loc *pgcollate.Locale, pattern []byte, v uint32) (cellcipher.PatternTerms, bool) {
	tk, err := cellcipher.TermKeys(s.srv.protect.cipher().Keyring, col, v)
	if err != nil {
		return cellcipher.PatternTerms{}, false
	}
	prefixKey := col.Search.Has(policy.SearchOrder) && col.Search.Has(policy.SearchMatch)
	pt, err := cellcipher.MatchPatternTerms(tk, loc, pattern, prefixKey)
	return pt, err == nil
}
