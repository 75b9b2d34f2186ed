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
	"github.com/phiguard/phiguard/internal/baotest"
	"github.com/phiguard/phiguard/keys"
)

// target is a Vault to test against: the emulator (emu set), a real
// OpenBao server (bao set), or a real Vault named by VAULT_ADDR.
type target struct {
	name string
	cfg  Config
	emu  *vaultemu.Server
	srv  *httptest.Server
	bao  *baotest.Server
	reg  *prometheus.Registry
	// tokens are the OpenBao tokens withToken made, by name.
	tokens map[string]string
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

// newOpenBao starts a real OpenBao server (internal/baotest) with the
// transit key and returns a target whose Config uses its root token.
func newOpenBao(t *testing.T) *target {
	t.Helper()
	bao := baotest.Start(t, baotest.Options{})
	reg := prometheus.NewRegistry()
	return &target{
		name: "openbao", bao: bao, reg: reg,
		cfg: Config{Address: bao.Addr, Token: keys.NewSecret([]byte(bao.RootToken)), Registerer: reg, Timeout: 5 * time.Second},
	}
}

// targets returns the emulator; a real OpenBao server when its binary is
// there (always under CI=true, where a missing binary fails the test);
// and, when VAULT_ADDR and VAULT_TOKEN are set, that real Vault, using a
// fresh KV prefix and the transit key phiguard-test, and deleting what
// the test wrote when it ends.
func targets(t *testing.T) []*target {
	ts := []*target{newEmulator(t)}
	if baotest.Available() || os.Getenv("CI") == "true" {
		ts = append(ts, newOpenBao(t))
	}
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

// withToken returns a provider on tg whose token is limited to what a
// proxy needs, registered as name, so that revoke can take it away.
func (tg *target) withToken(t *testing.T, name string) *Provider {
	t.Helper()
	cfg := tg.cfg
	switch {
	case tg.emu != nil:
		tg.emu.AddToken(name, 0, "transit/decrypt/phiguard", "transit/encrypt/phiguard", "secret/data/phiguard/*", "secret/metadata/phiguard/*", "secret/metadata/phiguard")
		cfg.Token = keys.NewSecret([]byte(name))
	case tg.bao != nil:
		tok := tg.bao.Token(t, proxyPolicy, 0)
		tg.tokens = map[string]string{name: tok}
		cfg.Token = keys.NewSecret([]byte(tok))
	default:
		t.Skip("limited tokens are made on the emulator and OpenBao only")
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// proxyPolicy is what keys/vault's documentation grants a proxy.
const proxyPolicy = `
path "transit/decrypt/phiguard"        { capabilities = ["update"] }
path "secret/data/phiguard/keys/*"     { capabilities = ["read"] }
path "secret/metadata/phiguard/keys"   { capabilities = ["list"] }
path "secret/metadata/phiguard/keys/*" { capabilities = ["list", "read"] }
`

func (tg *target) revoke(t *testing.T, name string) {
	t.Helper()
	if tg.emu != nil {
		tg.emu.RevokeToken(name)
		return
	}
	tg.bao.RevokeToken(t, tg.tokens[name])
}

// deleteRecord removes a key id's record, all versions and metadata.
func (tg *target) deleteRecord(t *testing.T, admin *Provider, id string) {
	t.Helper()
	path := admin.cfg.KVMount + "/metadata/" + admin.cfg.KVPrefix + "/" + id
	if _, err := admin.client.Logical().DeleteWithContext(context.Background(), path); err != nil {
		t.Fatal(err)
	}
}
