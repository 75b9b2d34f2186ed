package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeysGoodFiles(t *testing.T) {
	if d := Default().Keys; d.Provider != KeysProviderLocal || d.Local.MasterKeyEnvName() != "PHIGUARD_MASTER_KEY" || d.Vault.TokenEnvName() != "VAULT_TOKEN" {
		t.Errorf("defaults: %+v", d)
	}
	cfg, err := Load("testdata/keys-vault.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	v := cfg.Keys.Vault
	if cfg.Keys.Provider != KeysProviderVault || v.Address != "https://vault.internal:8200" || v.TokenEnvName() != "PHIGUARD_VAULT_TOKEN" ||
		v.KVPrefix != "phiguard/keys" || v.Timeout.Std() != 5*time.Second {
		t.Errorf("vault file not read as written: %+v", cfg.Keys)
	}
	cfg, _ = Load("testdata/keys-approle.good.yml")
	if a := cfg.Keys.Vault.AppRole; a == nil || a.RoleID != "0b5a6d2c-phiguard" || a.SecretIDFile == "" {
		t.Errorf("approle not read: %+v", a)
	}
	t.Setenv("VAULT_ADDR", "https://from-env:8200")
	if got := cfg.Keys.Vault.ResolvedAddress(); got != "https://from-env:8200" {
		t.Errorf("address from VAULT_ADDR: %q", got)
	}
	cfg, _ = Load("testdata/keys-local.good.yml")
	if l := cfg.Keys.Local; l.File != "/tmp/phiguard-keyring.json" || l.MasterKeyFile == "" {
		t.Errorf("local file not read: %+v", l)
	}
}

func TestKeysBadFiles(t *testing.T) {
	want := map[string][]string{
		"keys-secrets.bad.yml": {
			"keys.local: is set but keys.provider is vault",
			"keys.local.master_key: line 5: the master key must not be written in the configuration file; put it in an environment variable named by keys.local.master_key_env (default PHIGUARD_MASTER_KEY) or in a file named by keys.local.master_key_file",
			"keys.vault.token: line 8: a Vault token must not be written in the configuration file; put it in an environment variable named by keys.vault.token_env (default VAULT_TOKEN), or use keys.vault.approle",
			"keys.vault.approle.secret_id: line 12: an AppRole secret id must not be written in the configuration file; put it in a file (mode 0600) named by keys.vault.approle.secret_id_file",
			"keys.vault.token_env: must be the name of an environment variable (like VAULT_TOKEN) that holds the token, not the token itself; the value is not shown here",
			"keys.vault.token_env: set either token_env or approle, not both",
			"keys.vault.approle.secret_id_file: is required",
			`keys.vault.address: must be an http:// or https:// URL, got "vault.internal:8200"`,
		},
		"keys-local.bad.yml": {
			"keys.vault: is set but keys.provider is local",
			"keys.local.file: directory /nonexistent/dir does not exist",
			"keys.local.master_key_env: set either master_key_env or master_key_file, not both",
			"keys.local.master_key_file: cannot read: stat /nonexistent/master.key: no such file or directory",
		},
		"keys-provider.bad.yml": {`keys.provider: must be local or vault, got "kms"`},
		"keys-unknown.bad.yml":  {"field adress not found"},
	}
	for file, wants := range want {
		cfg, err := Load(filepath.Join("testdata", file))
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			t.Errorf("%s: accepted", file)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", file, w, err)
			}
		}
		for _, secret := range []string{"c2VjcmV0", "hvs.", "9f8e7d6c"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows a secret (%s...):\n%v", file, secret, err)
			}
		}
	}
}

// A master key pasted where a variable name or a path belongs is refused
// without being repeated.
func TestKeysPastedMasterKey(t *testing.T) {
	const key = "c2VjcmV0LW1hc3Rlci1rZXktMzItYnl0ZXMtbG9uZyE"
	for _, field := range []string{"file", "master_key_env", "master_key_file"} {
		cfg, err := Parse([]byte("keys:\n  local:\n    " + field + ": " + key + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "keys.local."+field+":") {
			t.Errorf("%s: %v", field, err)
			continue
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("%s: the error shows the key: %v", field, err)
		}
	}
}
