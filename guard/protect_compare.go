package guard

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// During a re-encryption a deterministic column holds cells of two (or
// more) live versions of its key, and one plaintext has one cell per
// version. A literal compared with the column is therefore replaced by the
// cells of every live version, where the syntax allows it without touching
// anything but the literal:
//
//	col = 'x'          ->  col = ANY(ARRAY['<v2 cell>','<v1 cell>'])
//	col <> 'x'         ->  col <> ALL(ARRAY[...])
//	col IN ('x', 'y')  ->  col IN ('<x v2>','<x v1>', '<y v2>','<y v1>')   (NOT IN alike)
//
// A column with `search` has two texts per version as well: the cell with
// the value's search terms (format 2), which phiguard writes now, and the
// cell without, which rows written before the column gained `search` hold
// (cellcipher.EqualityCandidates; docs/design/search-terms.md §4.7), so
// its literal is replaced by all of them even with one live version.
//
// Anything else (a literal left of the column, in extra parentheses)
// has no place for the list, and one cell would find only the rows
// holding that text: another version's cells, or cells written before
// the column gained `search`, would be missed where the plaintext finds
// them. So such a comparison is refused (0A000, unlisted) whenever the
// column has more than one candidate; with one it is exact. A $n
// parameter in the same places is handled at Parse and Bind
// (protect_compare_param.go).

// compareLiteral returns the replacement text for a compared literal at
// sp, or ok false when one cell (the write version's) is all it takes or
// all the syntax allows.
func (s *Session) compareLiteral(sql []byte, sp [2]int, v sqlrewrite.ValueSlot, plain []byte) (text string, ok bool, pe *pgerr.Error) {
	if v.Use != sqlrewrite.UseCompare {
		return "", false, nil
	}
	col := v.Column
	if v.Form == sqlrewrite.CompareOther || !v.Form.FitsList(sql, sp) {
		return "", false, s.unlisted(col)
	}
	canon, err := s.canonicalValue(col, 0, plain)
	if err != nil {
		return "", false, valueError(col, err)
	}
	cands, pe := s.equalityCandidates(col, canon)
	if pe != nil {
		return "", false, pe
	}
	if len(cands) < 2 {
		return "", false, nil
	}
	quoted := make([]string, len(cands))
	for i, c := range cands {
		quoted[i] = "'" + string(c) + "'" // cells are base64url behind a fixed prefix: nothing to escape
	}
	return v.Form.List(quoted), true, nil
}

// unlisted refuses a value compared with col where the text has no place
// for its candidates (a value left of the column, in extra parentheses)
// when col has more than one: one cell would miss the rows holding the
// others.
func (s *Session) unlisted(col *policy.ProtectedColumn) *pgerr.Error {
	n, pe := s.candidateCount(col) // protect_terms.go
	if pe != nil || n < 2 {
		return pe
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"comparing encrypted column %s with a value left of it or in parentheses: each value has %d cells in the column now (several live key versions, or cells with and without search terms) and phiguard lists them only in col = value, col <> value and col IN (...): write the comparison so",
		col.QualifiedName(), n)
}
