package local

import (
	"context"

	"github.com/phiguard/phiguard/keys"
)

var _ keys.Retirer = (*Provider)(nil)

// Retire removes one version of keyID from the keyring file. The file is
// rewritten sealed, so the version's bytes are gone from it; copies of the
// file made before (backups) still hold them.
func (p *Provider) Retire(ctx context.Context, keyID string, version uint32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	raw, dks, err := p.read()
	if err != nil {
		return err
	}
	var have []uint32
	kept := dks[:0:0]
	for _, dk := range dks {
		if dk.ID == keyID {
			have = append(have, dk.Version)
			if dk.Version == version {
				continue
			}
		}
		kept = append(kept, dk)
	}
	if err := keys.CheckRetire(keyID, version, have); err != nil {
		return err
	}
	return p.write(kept, raw)
}
