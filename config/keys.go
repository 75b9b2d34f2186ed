package config

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Key providers, the values of keys.provider.
const (
	KeysProviderLocal = "local" // a keyring file sealed by a master key (package keys/local)
	KeysProviderVault = "vault" // data keys wrapped by Vault transit, stored in KV v2 (package keys/vault)
)

// Default environment variable names, used when the file names none.
const (
	DefaultMasterKeyEnv = "PHIGUARD_MASTER_KEY" // keys/local's MasterKeyEnv
	DefaultVaultAddrEnv = "VAULT_ADDR"
	DefaultVaultToken   = "VAULT_TOKEN"
)

// Keys says where the data keys of the policy's key ids live. The file
// holds no secret: only the names of environment variables and the paths
// of files that hold them. A secret written in the file itself (a token, a
// master key, a secret id) is a validation problem.
type Keys struct {
	// Provider is local (the default) or vault.
	Provider string    `yaml:"provider"`
	Local    LocalKeys `yaml:"local"`
	Vault    VaultKeys `yaml:"vault"`
	// Subjects tunes crypto-shredding's per-subject keys.
	Subjects SubjectKeys `yaml:"subjects"`
}

// LocalKeys configures the keyring-file provider.
type LocalKeys struct {
	// File is the sealed keyring file, created by `phiguard keys init`.
	File string `yaml:"file"`
	// MasterKeyEnv names the environment variable holding the base64
	// master key; default PHIGUARD_MASTER_KEY. Ignored when MasterKeyFile is set.
	MasterKeyEnv string `yaml:"master_key_env"`
	// MasterKeyFile is a file holding the base64 master key.
	MasterKeyFile string `yaml:"master_key_file"`
	// Recheck is how often serve reads the master key and keyring files
	// again: a replaced keyring is picked up, a removed or unreadable one
	// withdraws the keys (docs/kill-switch.md). Default 30s.
	Recheck Duration `yaml:"recheck"`

	inlineSecret int // line of a master_key written in the file, 0 if none
}

// VaultKeys configures the Vault provider. Empty fields take keys/vault's
// defaults (transit mount "transit", key "phiguard", KV mount "secret",
// prefix "phiguard/keys", timeout 10s).
type VaultKeys struct {
	// Address is Vault's URL; default $VAULT_ADDR.
	Address string `yaml:"address"`
	// TokenEnv names the environment variable holding the token; default
	// VAULT_TOKEN. Not used with AppRole.
	TokenEnv string `yaml:"token_env"`
	// AppRole, when set, logs in with a role id and a secret id file
	// instead of a token.
	AppRole *AppRole `yaml:"approle"`
	// CACert is a PEM file of the CA that signed Vault's certificate;
	// default $VAULT_CACERT.
	CACert       string   `yaml:"ca_cert"`
	TransitMount string   `yaml:"transit_mount"`
	TransitKey   string   `yaml:"transit_key"`
	KVMount      string   `yaml:"kv_mount"`
	KVPrefix     string   `yaml:"kv_prefix"`
	Timeout      Duration `yaml:"timeout"`
	// Recheck is how often serve asks Vault again for every data key
	// (docs/kill-switch.md): a definite refusal withdraws the keys at
	// once, a new or retired version is picked up. Default 30s.
	Recheck Duration `yaml:"recheck"`
	// OfflineGrace is how long the keys stay in use while Vault is
	// unreachable or sealed; nil: 15m; 0: withdrawn at the first failed
	// recheck.
	OfflineGrace *Duration `yaml:"offline_grace"`

	inlineSecret int // line of a token written in the file, 0 if none
}

// AppRole is Vault AppRole login. The role id is an identifier, not a
// secret; the secret id is read from SecretIDFile at each login.
type AppRole struct {
	Mount        string `yaml:"mount"` // default "approle"
	RoleID       string `yaml:"role_id"`
	SecretIDFile string `yaml:"secret_id_file"`

	inlineSecret int // line of a secret_id written in the file, 0 if none
}

// MasterKeyEnvName is MasterKeyEnv or its default.
func (l LocalKeys) MasterKeyEnvName() string {
	if l.MasterKeyEnv == "" {
		return DefaultMasterKeyEnv
	}
	return l.MasterKeyEnv
}

// TokenEnvName is TokenEnv or its default.
func (v VaultKeys) TokenEnvName() string {
	if v.TokenEnv == "" {
		return DefaultVaultToken
	}
	return v.TokenEnv
}

// ResolvedAddress is Address, else $VAULT_ADDR, else "" (keys/vault then
// uses https://127.0.0.1:8200).
func (v VaultKeys) ResolvedAddress() string {
	if v.Address == "" {
		return os.Getenv(DefaultVaultAddrEnv)
	}
	return v.Address
}

// secretLine records that a secret was written in the file, and on which
// line, without keeping its value.
type secretLine int

func (s *secretLine) UnmarshalYAML(n *yaml.Node) error {
	*s = secretLine(max(n.Line, 1))
	return nil
}

// The UnmarshalYAML methods below accept the keys a careless operator might
// write a secret under (master_key, token, secret_id) so that Validate can
// explain what to write instead; the value itself is dropped at once. They
// use the decoder's own unmarshal function, so unknown keys stay errors.

func (l *LocalKeys) UnmarshalYAML(unmarshal func(any) error) error {
	type plain LocalKeys
	raw := struct {
		plain     `yaml:",inline"`
		MasterKey secretLine `yaml:"master_key"`
	}{plain: plain(*l)}
	if err := unmarshal(&raw); err != nil {
		return err
	}
	*l = LocalKeys(raw.plain)
	l.inlineSecret = int(raw.MasterKey)
	return nil
}

func (v *VaultKeys) UnmarshalYAML(unmarshal func(any) error) error {
	type plain VaultKeys
	raw := struct {
		plain `yaml:",inline"`
		Token secretLine `yaml:"token"`
	}{plain: plain(*v)}
	if err := unmarshal(&raw); err != nil {
		return err
	}
	*v = VaultKeys(raw.plain)
	v.inlineSecret = int(raw.Token)
	return nil
}

func (a *AppRole) UnmarshalYAML(unmarshal func(any) error) error {
	type plain AppRole
	raw := struct {
		plain    `yaml:",inline"`
		SecretID secretLine `yaml:"secret_id"`
	}{plain: plain(*a)}
	if err := unmarshal(&raw); err != nil {
		return err
	}
	*a = AppRole(raw.plain)
	a.inlineSecret = int(raw.SecretID)
	return nil
}

// validate adds the keys section's problems. No message quotes a value that
// might be a secret pasted into the wrong field.
func (k Keys) validate(add func(string, string, ...any)) {
	switch k.Provider {
	case KeysProviderLocal:
		if k.Vault != (VaultKeys{}) {
			add("keys.vault", "is set but keys.provider is local")
		}
		k.Local.validate(add)
	case KeysProviderVault:
		if k.Local != (LocalKeys{}) {
			add("keys.local", "is set but keys.provider is vault")
		}
		k.Vault.validate(add)
	default:
		add("keys.provider", "must be local or vault, got %q", k.Provider)
	}
	k.Subjects.validate(add)
	// A secret is reported even under the provider not in use.
	if l := k.Local.inlineSecret; l != 0 {
		add("keys.local.master_key", "line %d: the master key must not be written in the configuration file; "+
			"put it in an environment variable named by keys.local.master_key_env (default %s) or in a file named by keys.local.master_key_file",
			l, DefaultMasterKeyEnv)
	}
	if l := k.Vault.inlineSecret; l != 0 {
		add("keys.vault.token", "line %d: a Vault token must not be written in the configuration file; "+
			"put it in an environment variable named by keys.vault.token_env (default %s), or use keys.vault.approle",
			l, DefaultVaultToken)
	}
	if a := k.Vault.AppRole; a != nil && a.inlineSecret != 0 {
		add("keys.vault.approle.secret_id", "line %d: an AppRole secret id must not be written in the configuration file; "+
			"put it in a file (mode 0600) named by keys.vault.approle.secret_id_file", a.inlineSecret)
	}
}

func (l LocalKeys) validate(add func(string, string, ...any)) {
	// An empty file is not a problem here: a configuration without
	// protected columns needs no keyring. keys/keysconfig.Provider, which
	// needs one, says so.
	switch {
	case l.File != "" && looksLikeMasterKey(l.File):
		add("keys.local.file", "looks like a master key, not a path; never write the key in the configuration file")
	case l.File != "":
		if fi, err := os.Stat(l.File); err == nil && fi.IsDir() {
			add("keys.local.file", "%s is a directory, not a keyring file", l.File)
		} else if dir := filepath.Dir(l.File); !isDir(dir) {
			add("keys.local.file", "directory %s does not exist", dir)
		}
	}
	checkRecheck(add, "keys.local.recheck", l.Recheck)
	if l.MasterKeyEnv != "" && l.MasterKeyFile != "" {
		add("keys.local.master_key_env", "set either master_key_env or master_key_file, not both")
	}
	if l.MasterKeyEnv != "" {
		checkEnvName(add, "keys.local.master_key_env", l.MasterKeyEnv, "the master key")
	}
	if l.MasterKeyFile != "" {
		if looksLikeMasterKey(l.MasterKeyFile) {
			add("keys.local.master_key_file", "looks like a master key, not a path; put the key in that file and name the file here")
		} else {
			checkReadable(add, "keys.local.master_key_file", l.MasterKeyFile, "master key file")
		}
	}
}

func (v VaultKeys) validate(add func(string, string, ...any)) {
	checkRecheck(add, "keys.vault.recheck", v.Recheck)
	checkOfflineGrace(add, v.OfflineGrace)
	if v.Address != "" {
		u, err := url.Parse(v.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("keys.vault.address", "must be an http:// or https:// URL, got %q", v.Address)
		}
	}
	if v.TokenEnv != "" {
		checkEnvName(add, "keys.vault.token_env", v.TokenEnv, "the token")
	}
	if a := v.AppRole; a != nil {
		if v.TokenEnv != "" {
			add("keys.vault.token_env", "set either token_env or approle, not both")
		}
		if a.RoleID == "" {
			add("keys.vault.approle.role_id", "is required")
		}
		if a.SecretIDFile == "" {
			add("keys.vault.approle.secret_id_file", "is required")
		} else {
			checkReadable(add, "keys.vault.approle.secret_id_file", a.SecretIDFile, "secret id file")
		}
		if strings.ContainsAny(a.Mount, "?#% /") {
			add("keys.vault.approle.mount", "%q is not a valid Vault mount", a.Mount)
		}
	}
	if v.CACert != "" {
		checkCAFile(add, "keys.vault.ca_cert", v.CACert)
	}
	for _, f := range []struct{ path, v string }{
		{"keys.vault.transit_mount", v.TransitMount},
		{"keys.vault.transit_key", v.TransitKey},
		{"keys.vault.kv_mount", v.KVMount},
		{"keys.vault.kv_prefix", v.KVPrefix},
	} {
		if strings.ContainsAny(f.v, "?#% ") {
			add(f.path, "%q is not a valid Vault path", f.v)
		}
	}
	if v.Timeout < 0 {
		add("keys.vault.timeout", "must not be negative")
	}
}

// checkEnvName checks that name is an environment variable's name, and
// not the secret itself pasted in its place (which the message then does
// not repeat).
func checkEnvName(add func(string, string, ...any), path, name, what string) {
	ok := name != "" && !(name[0] >= '0' && name[0] <= '9')
	for _, c := range name {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			ok = false
		}
	}
	if !ok || looksLikeMasterKey(name) {
		add(path, "must be the name of an environment variable (like %s) that holds %s, not %s itself; the value is not shown here",
			map[string]string{"the master key": DefaultMasterKeyEnv, "the token": DefaultVaultToken}[what], what, what)
	}
}

// looksLikeMasterKey reports whether s is the base64 of 32 bytes, the form
// of a local master key.
func looksLikeMasterKey(s string) bool {
	s = strings.TrimSpace(s)
	// Standard base64 uses '/', so a 43- or 44-character path can decode to
	// 32 bytes; one whose directory exists is a path, whatever it decodes to.
	if dir := filepath.Dir(s); strings.Contains(s, "/") && dir != "." {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return false
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return true
		}
	}
	return false
}

func checkReadable(add func(string, string, ...any), path, file, what string) {
	fi, err := os.Stat(file)
	switch {
	case err != nil:
		add(path, "cannot read: %v", err)
	case fi.IsDir():
		add(path, "%s is a directory, not a %s", file, what)
	default:
		f, err := os.Open(file)
		if err != nil {
			add(path, "cannot read: %v", err)
			return
		}
		f.Close()
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
