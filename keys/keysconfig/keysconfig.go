package keysconfig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/keys/vault"
	"github.com/phiguard/phiguard/policy"
)

// Provider builds the provider cfg names: keys/local or keys/vault. It
// reads the master key or the Vault token now, from the environment
// variable or file the configuration names, but contacts no service and
// opens no keyring file: Load, Init, Rotate and Status do. reg receives the
// Vault provider's request counter (phiguard_keys_vault_requests_total);
// nil registers nothing.
//
// cfg should have passed config.Config.Validate. Errors name the
// configuration key at fault, never a secret. The provider returned also
// implements fmt.Stringer, naming the keyring file or the Vault address and
// paths (never a secret).
func Provider(cfg config.Keys, reg prometheus.Registerer) (keys.Provider, error) {
	switch cfg.Provider {
	case config.KeysProviderLocal, "":
		return localProvider(cfg.Local)
	case config.KeysProviderVault:
		return vaultProvider(cfg.Vault, reg)
	default:
		return nil, fmt.Errorf("keys.provider: must be local or vault, got %q", cfg.Provider)
	}
}

func localProvider(c config.LocalKeys) (keys.Provider, error) {
	if c.File == "" {
		return nil, errors.New("keys.local.file: is not set: name the keyring file (created by `phiguard keys init`)")
	}
	var master keys.Secret
	var err error
	if c.MasterKeyFile != "" {
		master, err = local.MasterKeyFromFile(c.MasterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("keys.local.master_key_file: %w", err)
		}
	} else {
		master, err = local.MasterKeyFromEnv(c.MasterKeyEnvName())
		if err != nil {
			return nil, fmt.Errorf("keys.local.master_key_env: %w (make one with `phiguard keys master-key`)", err)
		}
	}
	return local.New(c.File, master)
}

func vaultProvider(c config.VaultKeys, reg prometheus.Registerer) (keys.Provider, error) {
	vc := vault.Config{
		Address:      c.ResolvedAddress(),
		CACert:       c.CACert,
		Timeout:      c.Timeout.Std(),
		TransitMount: c.TransitMount,
		TransitKey:   c.TransitKey,
		KVMount:      c.KVMount,
		KVPrefix:     c.KVPrefix,
		Registerer:   reg,
	}
	if a := c.AppRole; a != nil {
		vc.AppRole = &vault.AppRole{Mount: a.Mount, RoleID: a.RoleID, SecretIDFile: a.SecretIDFile}
	} else {
		name := c.TokenEnvName()
		tok := os.Getenv(name)
		if tok == "" {
			return nil, fmt.Errorf("keys.vault.token_env: environment variable %s is not set (set it to a Vault token, or configure keys.vault.approle)", name)
		}
		vc.Token = keys.NewSecret([]byte(tok))
	}
	p, err := vault.New(vc)
	if err != nil {
		return nil, fmt.Errorf("keys.vault: %w", err)
	}
	return p, nil
}

// Reachable asks a Vault provider's unauthenticated sys/health whether
// Vault is up and unsealed (one request); for the local provider it does
// nothing. A server at the address that is not Vault fails here, where a
// KV list would read its 404 as "no keys yet". Errors are explained.
func Reachable(ctx context.Context, p keys.Provider) error {
	if vp, ok := p.(*vault.Provider); ok {
		return Explain(p, vp.Health(ctx))
	}
	return nil
}

// Load loads every data key from p, with errors explained (see Explain).
func Load(ctx context.Context, p keys.Provider) (*keys.Keyring, error) {
	kr, err := p.Load(ctx)
	if err != nil {
		return nil, Explain(p, err)
	}
	return kr, nil
}

// Explain wraps an error from p with p's description (the keyring file, or
// the Vault address and paths) and, where one helps, what to do about it.
// errors.Is still matches the providers' sentinels.
func Explain(p keys.Provider, err error) error {
	if err == nil {
		return nil
	}
	var hint string
	switch {
	case errors.Is(err, local.ErrMasterKey), errors.Is(err, fs.ErrNotExist):
		// keys/local's message already says what to check or run.
	case errors.Is(err, vault.ErrSealed):
		hint = "unseal Vault, then try again"
	case errors.Is(err, keys.ErrPermissionDenied):
		hint = "the token or AppRole lacks a Vault policy for this path (the policy phiguard needs: go doc ./keys/vault)"
	case errors.Is(err, vault.ErrTimeout), errors.Is(err, keys.ErrUnavailable):
		hint = "is Vault running and reachable at that address?"
	case errors.Is(err, keys.ErrUnknownKey):
		hint = "`phiguard keys status` lists the key ids; `phiguard keys init --key ID` creates one"
	case errors.Is(err, keys.ErrConflict):
		hint = "another `phiguard keys` command changed the keys meanwhile; run this one again"
	}
	if hint != "" {
		return fmt.Errorf("%v: %w (%s)", p, err, hint)
	}
	return fmt.Errorf("%v: %w", p, err)
}

// KeyIDs lists, sorted and once each, the key ids pol's protected columns
// and its roles' pseudonym column rules name.
func KeyIDs(pol *policy.Policy) []string {
	var ids []string
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			ids = append(ids, c.Key)
		}
	}
	// Pseudonym column rules key their HMAC tokens from a data key too.
	for _, r := range pol.Roles() {
		for _, c := range r.ColumnRules() {
			if c.Action == policy.ActionPseudonym {
				ids = append(ids, c.Key)
			}
		}
	}
	if NeedsSubjectKeys(pol) {
		ids = append(ids, keys.SubjectKeyID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// MissingSearchVersions lists, for each column with `search`, its
// search_key_version when kr does not hold that version of the column's
// key ("patients-pii version 2 (search_key_version of
// public.patients.last)"). The terms are not used yet, but a policy
// naming a version the keys lack is refused now rather than when they
// are.
func MissingSearchVersions(kr *keys.Keyring, pol *policy.Policy) []string {
	var out []string
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			if c.Search == 0 {
				continue
			}
			if kr == nil {
				out = append(out, searchVersion(c))
				continue
			}
			if _, err := kr.DataKeyVersion(c.Key, c.SearchKeyVersion); err != nil {
				out = append(out, searchVersion(c))
			}
		}
	}
	return out
}

func searchVersion(c *policy.ProtectedColumn) string {
	return fmt.Sprintf("%s version %d (search_key_version of %s)", c.Key, c.SearchKeyVersion, c.QualifiedName())
}

// Missing lists the ids that kr does not hold (a nil kr holds none).
func Missing(kr *keys.Keyring, ids []string) []string {
	var out []string
	for _, id := range ids {
		if _, err := kr.WriteVersion(id); err != nil {
			out = append(out, id)
		}
	}
	return out
}
