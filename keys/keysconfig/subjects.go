package keysconfig

import (
	"fmt"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// NeedsSubjectKeys reports whether the policy has columns sealed per
// subject (randomized columns of a table with a subject column), and so
// needs the subjects key and a provider that stores subject keys.
func NeedsSubjectKeys(pol *policy.Policy) bool {
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			if c.PerSubject() {
				return true
			}
		}
	}
	return false
}

// SubjectKeys builds the per-subject keys of crypto-shredding over p's
// subject store and kr's subjects key, tuned by cfg.Subjects. It returns
// nil, nil when the policy needs none.
func SubjectKeys(cfg config.Keys, p keys.Provider, kr *keys.Keyring, pol *policy.Policy) (*keys.SubjectKeys, error) {
	if pol != nil && !NeedsSubjectKeys(pol) {
		return nil, nil
	}
	store, ok := keys.SubjectStoreOf(p)
	if !ok {
		return nil, fmt.Errorf("the policy seals columns per subject, but the key provider %v does not store subject keys", p)
	}
	sk, err := keys.NewSubjectKeys(kr, store, keys.SubjectKeysOptions{
		TTL: cfg.Subjects.CacheTTL.Std(), MaxEntries: cfg.Subjects.CacheEntries,
	})
	if err != nil {
		return nil, Explain(p, err)
	}
	return sk, nil
}
