package cellcipher

import (
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// EqualityCandidates returns every text a deterministic column's cell of
// canon may have, for `col = x`, `IN` and the deterministic rewrites:
// keys.Keyring.EqualityCandidates's cell under each loaded version of the
// column key, write version first, and for a column with `search` each
// of them as a format-2 cell carrying the value's terms (under loc, the
// column's libc collation; nil for C or POSIX) followed by the format-1
// cell itself, which cells written before the column gained `search`
// still are (docs/design/search-terms.md §4.7). The first candidate is
// what Seal or SealWithTerms writes for the value. A deterministic
// column's terms are keyed by its key, so one value's terms are the same
// in every column of the key's equality domain and under every cell
// version; they differ only by term key version (search_key_version).
//
// While search_state is `building` format-1 cells may remain, so both texts are candidates;
// once `ready` guarantees every cell has terms, only the format-2 ones.
// While `rekeying` (§5.3) a cell may carry the terms of any loaded
// version (TermVersions), so each cell version gets one format-2 text
// per term version, search_key_version's first, and the format-1 text.
func (c *Cipher) EqualityCandidates(col *policy.ProtectedColumn, loc *pgcollate.Locale, canon []byte) ([][]byte, error) {
	cands, err := c.Keyring.EqualityCandidates(col.Key, AssociatedData(col), canon)
	if err != nil || col.Search == 0 {
		return cands, err
	}
	tvs, err := TermVersions(c.Keyring, col)
	if err != nil {
		return nil, err
	}
	terms := make([]keys.CellTerms, len(tvs))
	for i, tv := range tvs {
		if terms[i], err = c.CellTermsAt(col, loc, canon, tv); err != nil {
			return nil, err
		}
	}
	bare := col.SearchState != policy.SearchReady
	out := make([][]byte, 0, len(cands)*(len(terms)+1))
	for _, v1 := range cands {
		for _, t := range terms {
			v2, err := keys.WithTerms(v1, t)
			if err != nil {
				return nil, err
			}
			out = append(out, v2)
		}
		if bare {
			out = append(out, v1)
		}
	}
	return out, nil
}

// CandidatesPerVersion is how many texts EqualityCandidates gives per
// loaded key version outside `rekeying`: 2 for a column with `search`
// not yet `ready` (with and without terms), 1 otherwise. CandidateCount
// counts every state.
func CandidatesPerVersion(col *policy.ProtectedColumn) int {
	if col.Search != 0 && col.SearchState != policy.SearchReady {
		return 2
	}
	return 1
}

// CandidateCount is how many texts EqualityCandidates gives for col
// under kr: per loaded cell version, one per term version and the
// format-1 text while `rekeying`, else CandidatesPerVersion.
func CandidateCount(kr *keys.Keyring, col *policy.ProtectedColumn) (int, error) {
	live, err := kr.LiveVersions(col.Key)
	if err != nil {
		return 0, err
	}
	if col.Search == 0 || col.SearchState != policy.SearchRekeying {
		return live * CandidatesPerVersion(col), nil
	}
	tvs, err := TermVersions(kr, col)
	if err != nil {
		return 0, err
	}
	return live * (len(tvs) + 1), nil
}
