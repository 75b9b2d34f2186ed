package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/keys/keywatch"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestKillSwitchWithdrawalForgetsTheProviderKeys: serve keeps the
// provider it started with (as the store of subject keys), and it held
// what opens every key: the local master key (the Vault provider: the
// keys it unwrapped). Once the keys are withdrawn it must hold it no
// more: here the master key file is put back after the withdrawal, and
// the provider serve started with still cannot open the keyring.
func TestKillSwitchWithdrawalForgetsTheProviderKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	masterFile := filepath.Join(dir, "master.key")
	master := []byte(newMasterKey(t) + "\n")
	policyFile := filepath.Join(dir, "policy.yml")
	for f, b := range map[string][]byte{masterFile: master, policyFile: []byte(killSwitchPolicy)} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Keys.Provider = config.KeysProviderLocal
	cfg.Keys.Local.File, cfg.Keys.Local.MasterKeyFile = filepath.Join(dir, "keyring"), masterFile
	pol, err := sqlrewrite.LoadPolicy(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := keysconfig.Provider(cfg.Keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := keysconfig.KeyIDs(pol)
	if _, err := provider.Init(ctx, ids); err != nil {
		t.Fatal(err)
	}
	kr, err := provider.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prot := &guard.Protection{Policy: pol, Keyring: kr}
	w, err := watchKeys(cfg, provider, kr, ids, prot, nil, prometheus.NewRegistry(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(masterFile); err != nil {
		t.Fatal(err)
	}
	if st := w.Check(ctx); st != keywatch.Withdrawn {
		t.Fatalf("master key file removed: %s", st)
	}
	if err := os.WriteFile(masterFile, master, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Load(ctx); err == nil {
		t.Error("the provider serve started with still opens the keyring after the keys were withdrawn")
	}
	if st := w.Check(ctx); st != keywatch.Serving {
		t.Errorf("master key file back: %s", st)
	}
}
