package vault

import (
	"context"
	"errors"

	"github.com/phiguard/phiguard/keys"
)

// Revalidate asks Vault again for every data key, as Load does, but
// unwraps every version afresh instead of from the cache: it is how
// phiguard learns, on its recheck interval, that its token was revoked or
// expired (403), that the transit key was deleted or its
// min_decryption_version raised (400, keys.ErrRevoked), that a key record
// was removed (the key id is missing from the keyring returned), or that a
// version was added or retired (the keyring differs). Costs 1 list, 1
// read per key id and 1 transit decrypt per version, plus an AppRole
// login when due.
//
// The unwrap cache is replaced by what this call unwrapped. On any
// failure it is emptied: on a definite refusal (keys.Definite) so that no
// unwrapped key stays in the provider once the keys are withdrawn, and on
// an unanswered recheck too, since the keys then withdrawn when the
// offline grace runs out would otherwise stay here (the keyring in use,
// not this cache, serves during the grace). With AppRole a 403 also drops
// the token so that the next call logs in again (a revoked token with a
// live secret id is replaced: withdrawing an AppRole's access means
// destroying its secret id too).
func (p *Provider) Revalidate(ctx context.Context) (*keys.Keyring, error) {
	fresh := map[string]keys.Secret{}
	var dks []keys.DataKey
	err := p.eachRecord(ctx, func(id string, rec *record) error {
		for _, wv := range rec.Versions {
			k, err := p.unwrap(ctx, wv.Wrapped)
			if err != nil {
				return err
			}
			fresh[cacheKey(id, wv)] = k
			dks = append(dks, keys.DataKey{ID: id, Version: wv.Version, Created: wv.Created, Key: k})
		}
		return nil
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.cache = map[string]keys.Secret{}
		if keys.Definite(err) && p.cfg.AppRole != nil && errors.Is(err, keys.ErrPermissionDenied) {
			p.client.ClearToken()
		}
		return nil, err
	}
	p.cache = fresh
	return keys.NewKeyring(dks)
}

// Forget empties the unwrap cache. Serve calls it when the kill switch
// withdraws the keys, whatever the reason: a recheck that succeeded but
// lacks a key id the policy needs (its record removed) has just filled
// the cache with the other ids' keys.
func (p *Provider) Forget() {
	p.mu.Lock()
	p.cache = map[string]keys.Secret{}
	p.mu.Unlock()
}
