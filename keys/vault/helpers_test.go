package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiguard/phiguard/integration/vaultemu"
	"github.com/phiguard/phiguard/keys"
)

// target is a Vault to test against: the emulator (emu set) or a real one.
type target struct {
	name string
	cfg  Config
	emu  *vaultemu.Server
	srv  *httptest.Server
	reg  *prometheus.Registry
}

// newEmulator starts an emulator with the transit key and returns a target
// whose Config uses its root token.
func newEmulator(t *testing.T) *target {
	t.Helper()
	emu := vaultemu.New(vaultemu.Options{RootToken: "emu-root-token"})
	emu.CreateTransitKey("phiguard")
	srv := emu.Start()
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	return &target{
		name: "emulator", emu: emu, srv: srv, reg: reg,
		cfg: Config{Address: srv.URL, Token: keys.NewSecret([]byte("emu-root-token")), Registerer: reg, Timeout: 2 * time.Second},
	}
}

// targets returns the emulator and, when VAULT_ADDR and VAULT_TOKEN are set,
// the real Vault, using a fresh KV prefix and the transit key
// phiguard-test, and deleting what the test wrote when it ends.
func targets(t *testing.T) []*target {
	ts := []*target{newEmulator(t)}
	addr, tok := os.Getenv("VAULT_ADDR"), os.Getenv("VAULT_TOKEN")
	if addr == "" || tok == "" {
		return ts
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "phiguard-test/" + hex.EncodeToString(b)
	reg := prometheus.NewRegistry()
	real := &target{name: "vault", reg: reg, cfg: Config{
		Address: addr, Token: keys.NewSecret([]byte(tok)), TransitKey: "phiguard-test",
		KVPrefix: prefix, Registerer: reg, Timeout: 10 * time.Second,
	}}
	p := real.provider(t)
	if err := p.EnsureTransitKey(context.Background()); err != nil {
		t.Fatalf("real Vault at %s: %v", addr, err)
	}
	t.Cleanup(func() { cleanupKV(t, p, prefix) })
	return append(ts, real)
}

// cleanupKV deletes every secret under prefix, metadata and all versions.
func cleanupKV(t *testing.T, p *Provider, prefix string) {
	ctx := context.Background()
	s, err := p.client.Logical().ListWithContext(ctx, p.cfg.KVMount+"/metadata/"+prefix)
	if err != nil || s == nil {
		return
	}
	names, _ := s.Data["keys"].([]any)
	for _, n := range names {
		if _, err := p.client.Logical().DeleteWithContext(ctx, p.cfg.KVMount+"/metadata/"+prefix+"/"+n.(string)); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
}

func (tg *target) provider(t *testing.T) *Provider {
	t.Helper()
	p, err := New(tg.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// requests sums phiguard_keys_vault_requests_total on the target's registry.
func (tg *target) requests(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := tg.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "phiguard_keys_vault_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" {
					out[l.GetValue()] += m.GetCounter().GetValue()
					out["total"] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
