package keys

import "slices"

// Versions returns the loaded versions of keyID, newest first: the term
// key versions a search during a change of search_key_version looks
// for (docs/design/search-terms.md §5.3), as EqualityCandidates looks for
// a deterministic cell under each.
func (k *Keyring) Versions(keyID string) ([]uint32, error) {
	kv, err := k.lookup(keyID)
	if err != nil {
		return nil, err
	}
	vs := make([]uint32, 0, len(kv.versions))
	for n := range kv.versions {
		vs = append(vs, n)
	}
	slices.Sort(vs)
	slices.Reverse(vs)
	return vs, nil
}
