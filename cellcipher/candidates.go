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
// in every column of the key's equality domain and under every version.
//
// While search_state is `building` format-1 cells may remain, so both texts are candidates;
// once `ready` guarantees every cell has terms, only the format-2 ones.
func (c *Cipher) EqualityCandidates(col *policy.ProtectedColumn, loc *pgcollate.Locale, canon []byte) ([][]byte, error) {
	cands, err := c.Keyring.EqualityCandidates(col.Key, AssociatedData(col), canon)
	if err != nil || col.Search == 0 {
		return cands, err
	}
	terms, err := c.CellTerms(col, loc, canon)
	if err != nil {
		return nil, err
	}
	per := CandidatesPerVersion(col)
	out := make([][]byte, 0, per*len(cands))
	for _, v1 := range cands {
		v2, err := keys.WithTerms(v1, terms)
		if err != nil {
			return nil, err
		}
		out = append(out, v2)
		if per == 2 {
			out = append(out, v1)
		}
	}
	return out, nil
}

// CandidatesPerVersion is how many texts EqualityCandidates gives per
// loaded key version: 2 for a column with `search` not yet `ready` (with
// and without terms), 1 otherwise.
func CandidatesPerVersion(col *policy.ProtectedColumn) int {
	if col.Search != 0 && col.SearchState != policy.SearchReady {
		return 2
	}
	return 1
}
