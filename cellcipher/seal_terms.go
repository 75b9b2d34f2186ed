package cellcipher

import (
	"context"
	"fmt"

	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// SealWithTerms is Seal for a column with `search`: the cell carries the
// search terms of canon (format 2, keys.WithTerms) before the same
// ciphertext Seal writes, so it opens to the same value. A column
// without `search` gets Seal's cell. The terms are computed with the
// column key at search_key_version, never the subject key, even when the
// cell is sealed per subject: the front desk searches every patient
// (docs/design/search-terms.md §5.2). loc is the column's libc collation
// for the order and match terms of text (nil: C or POSIX); the design
// wrote SealWithTerms(ctx, col, canon, subject), but the collation is the
// catalog's, which cellcipher does not read.
//
// The proxy's writes call it (guard/protect_terms.go); the backfill's
// are the design's slice 3. Errors: Seal's, and those of
// the term inputs and keys (ErrNoTerm, keys.ErrUnknownKey when
// search_key_version is not loaded).
func (c *Cipher) SealWithTerms(ctx context.Context, col *policy.ProtectedColumn, loc *pgcollate.Locale, canon, subject []byte) ([]byte, error) {
	if col.Search == 0 {
		return c.Seal(ctx, col, canon, subject)
	}
	// The terms first: a value that cannot have them is refused before
	// a subject key is created for it.
	terms, err := c.CellTerms(col, loc, canon)
	if err != nil {
		return nil, err
	}
	cell, err := c.Seal(ctx, col, canon, subject)
	if err != nil {
		return nil, err
	}
	return keys.WithTerms(cell, terms)
}

// CellTerms computes the search terms col's policy asks for (its
// `search` kinds under search_key_version) from a canonical value: E from
// q, O from s_P, M from n and, when the column has order and match, the
// prefix key X. A kind the column does not have is left empty.
func (c *Cipher) CellTerms(col *policy.ProtectedColumn, loc *pgcollate.Locale, canon []byte) (keys.CellTerms, error) {
	return c.CellTermsAt(col, loc, canon, col.SearchKeyVersion)
}

// CellTermsAt is CellTerms under term key version tv rather than the
// column's search_key_version: the terms a cell written before a change
// of search_key_version carries (design §5.3, search_state: rekeying).
func (c *Cipher) CellTermsAt(col *policy.ProtectedColumn, loc *pgcollate.Locale, canon []byte, tv uint32) (keys.CellTerms, error) {
	out := keys.CellTerms{Version: tv}
	if col.Search == 0 {
		return out, fmt.Errorf("column %s has no search terms", col.QualifiedName())
	}
	tk, err := TermKeys(c.Keyring, col, tv)
	if err != nil {
		return out, fmt.Errorf("column %s: search terms: %w", col.QualifiedName(), err)
	}
	if col.Search.Has(policy.SearchEquality) {
		q, err := EqualityInput(col, canon)
		if err != nil {
			return out, err
		}
		out.Eq = tk.Eq(q)
	}
	if col.Search.Has(policy.SearchOrder) {
		s, err := OrderInput(col, loc, canon)
		if err != nil {
			return out, err
		}
		if out.Ord, err = tk.Ord(s); err != nil {
			return out, err
		}
	}
	if col.Search.Has(policy.SearchMatch) {
		n, err := MatchInput(col, loc, canon)
		if err != nil {
			return out, err
		}
		out.Match = MatchTokens(tk, n)
		if col.Search.Has(policy.SearchOrder) {
			out.Prefix = PrefixToken(tk, n)
		}
	}
	return out, nil
}
