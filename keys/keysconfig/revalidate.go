package keysconfig

import (
	"context"
	"fmt"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/vault"
)

// Revalidator returns how serve asks p, on its recheck interval, for its
// keys again (package keys/keywatch runs it):
//
//   - Vault: vault.Provider.Revalidate, which unwraps every version
//     afresh; 403 and transit's refusals are definite (keys.Definite),
//     an unreachable or sealed Vault is keys.ErrUnavailable.
//   - local: the master key (its file, or its environment variable) and
//     the keyring file are read again, as at start. The files are local,
//     so every failure is definite (keys.ErrRevoked): a removed master
//     key file or a keyring file sealed under another master key
//     withdraws the keys; a keyring file replaced by one with other
//     versions is picked up.
//
// Errors are explained (Explain).
func Revalidator(cfg config.Keys, p keys.Provider) func(context.Context) (*keys.Keyring, error) {
	if vp, ok := p.(*vault.Provider); ok {
		return func(ctx context.Context) (*keys.Keyring, error) {
			kr, err := vp.Revalidate(ctx)
			return kr, Explain(p, err)
		}
	}
	return func(ctx context.Context) (*keys.Keyring, error) {
		lp, err := localProvider(cfg.Local)
		if err == nil {
			var kr *keys.Keyring
			if kr, err = lp.Load(ctx); err == nil {
				return kr, nil
			}
		}
		return nil, fmt.Errorf("%w: %w", keys.ErrRevoked, Explain(p, err))
	}
}

// Forget makes p let go of the key material it holds beyond the keyring
// it returned: the local provider's master key, the Vault provider's
// cache of unwrapped keys. Serve calls it when the kill switch withdraws
// the keys; a later recheck reads them afresh (Revalidator), so p stays
// usable as the store of subject keys.
func Forget(p keys.Provider) {
	if f, ok := p.(interface{ Forget() }); ok {
		f.Forget()
	}
}
