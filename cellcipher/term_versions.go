package cellcipher

import (
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// TermVersions are the term key versions whose terms a search of col
// looks for (docs/design/search-terms.md §5.3): search_key_version alone,
// except under `search_state: rekeying`, when a cell may still carry
// terms of any loaded version of the column's key until the backfill has
// rewritten it: then search_key_version first and every other loaded
// version after it, newest first. The versions come from the policy and
// the keyring, never from the database, which someone writing to it
// could use to hide rows.
func TermVersions(kr *keys.Keyring, col *policy.ProtectedColumn) ([]uint32, error) {
	if col.SearchState != policy.SearchRekeying {
		return []uint32{col.SearchKeyVersion}, nil
	}
	vs, err := kr.Versions(col.Key)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, 0, len(vs)+1)
	out = append(out, col.SearchKeyVersion)
	for _, v := range vs {
		if v != col.SearchKeyVersion {
			out = append(out, v)
		}
	}
	return out, nil
}
