package vault

import (
	"context"

	"github.com/phiguard/phiguard/keys"
)

var _ keys.Retirer = (*Provider)(nil)

// Retire removes one version from keyID's record, with check-and-set so a
// concurrent rotation is not lost (keys.ErrConflict), and forgets its
// unwrapped copy. KV v2 keeps earlier versions of the record, which still
// hold the wrapped key: `vault kv metadata put -max-versions` or
// `vault kv destroy` removes them (docs/backfill.md).
func (p *Provider) Retire(ctx context.Context, keyID string, version uint32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.authenticate(ctx); err != nil {
		return err
	}
	rec, cas, err := p.readRecord(ctx, keyID)
	if err != nil {
		return err
	}
	var have []uint32
	if rec != nil {
		for _, v := range rec.Versions {
			have = append(have, v.Version)
		}
	}
	if err := keys.CheckRetire(keyID, version, have); err != nil {
		return err
	}
	kept := rec.Versions[:0:0]
	for _, wv := range rec.Versions {
		if wv.Version == version {
			delete(p.cache, cacheKey(keyID, wv))
			continue
		}
		kept = append(kept, wv)
	}
	rec.Versions = kept
	return p.writeRecord(ctx, keyID, rec, cas)
}
