package keysconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/integration/vaultemu"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/keys/vault"
	"github.com/phiguard/phiguard/policy"
)

func TestDefaultsAgree(t *testing.T) {
	if config.DefaultMasterKeyEnv != local.MasterKeyEnv {
		t.Errorf("config.DefaultMasterKeyEnv %q != local.MasterKeyEnv %q", config.DefaultMasterKeyEnv, local.MasterKeyEnv)
	}
}

func TestLocalProvider(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mk, _ := local.GenerateMasterKey()
	cfg := config.Keys{Provider: config.KeysProviderLocal, Local: config.LocalKeys{File: filepath.Join(dir, "keyring.json"), MasterKeyEnv: "TEST_KEYSCONFIG_MASTER"}}

	if _, err := Provider(config.Keys{Provider: "local"}, nil); err == nil || !strings.HasPrefix(err.Error(), "keys.local.file: is not set") {
		t.Errorf("no file: %v", err)
	}
	if _, err := Provider(cfg, nil); !errors.Is(err, local.ErrMasterKey) || !strings.Contains(err.Error(), "keys.local.master_key_env: ") || !strings.Contains(err.Error(), "TEST_KEYSCONFIG_MASTER is not set") {
		t.Errorf("env not set: %v", err)
	}
	t.Setenv("TEST_KEYSCONFIG_MASTER", mk)
	p, err := Provider(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, p); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "local keyring "+cfg.Local.File+": ") {
		t.Errorf("Load before init: %v", err)
	}
	if _, err := p.Init(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}

	// The same keyring through master_key_file.
	mkFile := filepath.Join(dir, "master.key")
	os.WriteFile(mkFile, []byte(mk+"\n"), 0o600)
	cfg.Local = config.LocalKeys{File: cfg.Local.File, MasterKeyFile: mkFile}
	p, err = Provider(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Reachable(ctx, p); err != nil {
		t.Errorf("Reachable, local: %v", err)
	}
	kr, err := Load(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if m := Missing(kr, []string{"a", "b", "c"}); !slices.Equal(m, []string{"c"}) {
		t.Errorf("Missing = %v", m)
	}
	if m := Missing(nil, []string{"a"}); !slices.Equal(m, []string{"a"}) {
		t.Errorf("Missing(nil) = %v", m)
	}

	os.WriteFile(mkFile, []byte("short"), 0o600)
	if _, err := Provider(cfg, nil); !errors.Is(err, local.ErrMasterKey) || !strings.HasPrefix(err.Error(), "keys.local.master_key_file: ") {
		t.Errorf("bad master key file: %v", err)
	}
}

func TestVaultProvider(t *testing.T) {
	ctx := context.Background()
	emu := vaultemu.New(vaultemu.Options{RootToken: "keysconfig-root"})
	emu.CreateTransitKey("phiguard")
	srv := emu.Start()
	defer srv.Close()
	cfg := config.Keys{Provider: config.KeysProviderVault, Vault: config.VaultKeys{Address: srv.URL, TokenEnv: "TEST_KEYSCONFIG_TOKEN"}}

	if _, err := Provider(cfg, nil); err == nil || !strings.Contains(err.Error(), "keys.vault.token_env: environment variable TEST_KEYSCONFIG_TOKEN is not set") {
		t.Errorf("token env not set: %v", err)
	}
	t.Setenv("TEST_KEYSCONFIG_TOKEN", "keysconfig-root")
	reg := prometheus.NewRegistry()
	p, err := Provider(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*vault.Provider); !ok {
		t.Fatalf("provider is %T", p)
	}
	if err := Reachable(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Init(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if kr, err := Load(ctx, p); err != nil || len(Missing(kr, []string{"a"})) != 0 {
		t.Errorf("Load = %v, %v", kr, err)
	}
	if mfs, _ := reg.Gather(); len(mfs) != 1 || mfs[0].GetName() != "phiguard_keys_vault_requests_total" {
		t.Errorf("the request counter is not registered: %v", mfs)
	}

	// AppRole with a secret id file.
	emu.AddAppRole("phiguard", "role-1", "secret-id-do-not-print", 0, "transit/*", "secret/*")
	sid := filepath.Join(t.TempDir(), "secret-id")
	os.WriteFile(sid, []byte("secret-id-do-not-print\n"), 0o600)
	cfg.Vault = config.VaultKeys{Address: srv.URL, AppRole: &config.AppRole{RoleID: "role-1", SecretIDFile: sid}}
	p, err = Provider(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := p.Status(ctx); err != nil || len(st) != 1 {
		t.Errorf("AppRole status = %v, %v", st, err)
	}

	emu.Seal()
	err = Reachable(ctx, p)
	if !errors.Is(err, vault.ErrSealed) || !strings.HasPrefix(err.Error(), "vault "+srv.URL) || !strings.HasSuffix(err.Error(), "(unseal Vault, then try again)") {
		t.Errorf("sealed: %v", err)
	}
	if _, err := Load(ctx, p); !errors.Is(err, keys.ErrUnavailable) || strings.Contains(err.Error(), "secret-id-do-not-print") {
		t.Errorf("Load, sealed: %v", err)
	}
}

func TestKeyIDs(t *testing.T) {
	pol, err := policy.Load("../../examples/policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"patients-drivers", "patients-passport", "patients-pii", "patients-ssn", "subjects"}
	if got := KeyIDs(pol); !slices.Equal(got, want) {
		t.Errorf("KeyIDs = %v, want %v", got, want)
	}
}

func TestProviderUnknown(t *testing.T) {
	if _, err := Provider(config.Keys{Provider: "kms"}, nil); err == nil || !strings.Contains(err.Error(), `keys.provider: must be local or vault, got "kms"`) {
		t.Errorf("unknown provider: %v", err)
	}
}

// TestKeyIDsIncludePseudonymKeys: keys init creates the HMAC keys that
// pseudonym column rules name, and serve checks they are loaded.
func TestKeyIDsIncludePseudonymKeys(t *testing.T) {
	pol, err := policy.Parse([]byte(`version: 1
tables:
  public.patients:
    columns:
      ssn: {mode: deterministic, key: patients-ssn, type: text}
roles:
  research:
    users: [r]
    columns:
      patients.id: pseudonym
      patients.first: {pseudonym: research-2026}
      patients.ssn: {masked: '{last4}'}
`))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(KeyIDs(pol), ","); got != "patients-ssn,pseudonym,research-2026" {
		t.Errorf("KeyIDs = %s", got)
	}
}

// TestMissingSearchVersions: a column's search_key_version must be a
// loaded version of its key; columns without search are not asked.
func TestMissingSearchVersions(t *testing.T) {
	dk, err := keys.GenerateDataKey("pii", 1, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keys.NewKeyring([]keys.DataKey{dk})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(`version: 1
tables:
  patients:
    columns:
      last:  {mode: randomized, key: pii, type: text, search: [order], search_key_version: 1}
      first: {mode: randomized, key: pii, type: text, search: [match], search_key_version: 2}
      ssn:   {mode: randomized, key: pii, type: text}
`))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pii version 2 (search_key_version of public.patients.first)"}
	if m := MissingSearchVersions(kr, pol); !slices.Equal(m, want) {
		t.Errorf("MissingSearchVersions = %v, want %v", m, want)
	}
	if m := MissingSearchVersions(nil, pol); len(m) != 2 {
		t.Errorf("MissingSearchVersions(nil) = %v", m)
	}
}
