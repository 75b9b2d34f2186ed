package vault

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

func TestTLSWithCAFile(t *testing.T) {
	tg := newEmulator(t)
	srv := tg.emu.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := tg.cfg
	cfg.Address = srv.URL
	t.Setenv("VAULT_CACERT", "")

	p, _ := New(cfg) // without the CA: the certificate is not trusted
	if _, err := p.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	cfg.CACert = ca
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Init(context.Background(), []string{"a"}); err != nil {
		t.Errorf("with the CA file: %v", err)
	}
}

func TestEnvironment(t *testing.T) {
	tg := newEmulator(t)
	t.Setenv("VAULT_ADDR", tg.srv.URL)
	t.Setenv("VAULT_TOKEN", "emu-root-token")
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Status(context.Background()); err != nil {
		t.Errorf("VAULT_ADDR/VAULT_TOKEN: %v", err)
	}
	if !strings.Contains(p.String(), tg.srv.URL) || strings.Contains(p.String(), "emu-root-token") {
		t.Errorf("String = %s", p)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "")
	for name, cfg := range map[string]Config{
		"no token":            {Address: "http://x"},
		"approle without id":  {AppRole: &AppRole{SecretID: keys.NewSecret([]byte("s"))}},
		"approle two secrets": {AppRole: &AppRole{RoleID: "r", SecretID: keys.NewSecret([]byte("s")), SecretIDFile: "f"}},
		"bad mount":           {Token: keys.NewSecret([]byte("t")), KVMount: "a b"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := Config{Token: keys.NewSecret([]byte("tok-123")), AppRole: &AppRole{RoleID: "r", SecretID: keys.NewSecret([]byte("sid-456"))}}
	j, _ := json.Marshal(cfg)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), fmt.Sprintf("%+v", *cfg.AppRole), string(j)} {
		if strings.Contains(out, "tok-123") || strings.Contains(out, "sid-456") {
			t.Errorf("secret printed: %s", out)
		}
	}
}

func TestSecretIDFile(t *testing.T) {
	tg, _ := initialised(t)
	tg.emu.AddAppRole("phiguard", "role-1", "the-secret-id", 0, "*")
	f := filepath.Join(t.TempDir(), "secret-id")
	os.WriteFile(f, []byte("the-secret-id\n"), 0o600)
	cfg := tg.cfg
	cfg.Token = keys.Secret{}
	cfg.AppRole = &AppRole{RoleID: "role-1", SecretIDFile: f}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(context.Background()); err != nil {
		t.Errorf("secret id from file: %v", err)
	}
}

func TestSharedRegistry(t *testing.T) {
	tg := newEmulator(t)
	a, b := tg.provider(t), tg.provider(t)
	a.Status(context.Background())
	b.Status(context.Background())
	if got := tg.requests(t)["kv_list"]; got != 2 {
		t.Errorf("two providers on one registry counted %v lists", got)
	}
}
