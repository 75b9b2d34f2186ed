package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/phiguard/phiguard/internal/baotest"
)

// The kill switch against a real Vault-API server (OpenBao, started by
// internal/baotest from ../shared/bin/bao; without it these tests skip,
// and fail under CI=true).

// phiguardVaultPolicy is the policy keys/vault's documentation gives a
// proxy that also runs `keys init`.
const phiguardVaultPolicy = `
path "transit/encrypt/phiguard"        { capabilities = ["update"] }
path "transit/decrypt/phiguard"        { capabilities = ["update"] }
path "secret/data/phiguard/keys/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/phiguard/keys"   { capabilities = ["list"] }
path "secret/metadata/phiguard/keys/*" { capabilities = ["list", "read"] }
`

// vaultServed is serve with the Vault provider on an OpenBao server, its
// token limited to phiguardVaultPolicy, rechecking every
// killSwitchRecheck with the given offline grace.
type vaultServed struct {
	*served
	bao   *baotest.Server
	token string
	conn  *pgx.Conn
	// secrets must appear in no client's error and no audit record: the
	// token, AppRole's role and secret ids.
	secrets []string
}

func startVaultServed(t *testing.T, ctx context.Context, grace time.Duration) *vaultServed {
	t.Helper()
	v := &vaultServed{bao: baotest.Start(t, baotest.Options{})}
	v.token = v.bao.Token(t, phiguardVaultPolicy, 0)
	v.secrets = []string{v.token}
	t.Setenv("PHIGUARD_TEST_VAULT_TOKEN", v.token)
	return v.start(t, ctx, fmt.Sprintf("token_env: PHIGUARD_TEST_VAULT_TOKEN, offline_grace: %s", grace))
}

// start runs serve with the vault: section's auth and grace given.
func (v *vaultServed) start(t *testing.T, ctx context.Context, auth string) *vaultServed {
	t.Helper()
	v.served = startServedWith(t, ctx, killSwitchSchema, killSwitchPolicy, func(*served) string {
		return fmt.Sprintf("provider: vault\n  vault: {address: %q, timeout: 2s, recheck: %s, %s}", v.bao.Addr, killSwitchRecheck, auth)
	})
	v.conn = v.connect(t, ctx)
	mustExec(t, ctx, v.conn, "INSERT INTO people (id, ssn, first) VALUES ($1, $2, $3)", 1, "078-05-1120", "Hilda")
	expectReady(t, v.served, http.StatusOK, "ready")
	return v
}

// withdrawnAfter runs revoke, waits for the first refused statement,
// logs how long it took and checks the withdrawn state.
func (v *vaultServed) withdrawnAfter(t *testing.T, ctx context.Context, what string, bound time.Duration, revoke func()) {
	t.Helper()
	at := time.Now()
	revoke()
	took := waitWithdrawn(t, ctx, v.conn, at, bound)
	t.Logf("%s: first refused statement after %s (recheck %s)", what, took.Round(time.Millisecond), killSwitchRecheck)
	expectWithdrawn(t, ctx, v.served, v.conn)
	_, err := readPHI(ctx, v.conn, pgx.QueryExecModeSimpleProtocol)
	audit, _ := filepath.Glob(filepath.Join(v.dir, "audit", "*.jsonl"))
	for _, secret := range v.secrets {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the client's error names a Vault credential: %v", what, err)
		}
		for _, f := range audit {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), secret) {
				t.Errorf("%s: the audit trail %s names a Vault credential", what, f)
			}
		}
	}
}

// TestKillSwitchVaultRefusals: a rotation by `keys rotate` is picked up
// while serving; each definite refusal withdraws the keys within one
// recheck, and undoing it restores them without a restart:
// transit's min_decryption_version raised past the stored keys' version,
// a key record removed from KV, then for good the transit key deleted.
func TestKillSwitchVaultRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v := startVaultServed(t, ctx, time.Hour)
	rotateWhileServing(t, ctx, v.served, v.conn)

	v.bao.RotateTransitKey(t, baotest.DefaultTransitKey)
	v.withdrawnAfter(t, ctx, "transit min_decryption_version raised", killSwitchBound, func() {
		v.bao.SetMinDecryptionVersion(t, baotest.DefaultTransitKey, 2)
	})
	v.bao.SetMinDecryptionVersion(t, baotest.DefaultTransitKey, 1)
	waitServing(t, ctx, v.conn)
	expectReady(t, v.served, http.StatusOK, "ready")

	record := v.bao.Call(t, http.MethodGet, "secret/data/phiguard/keys/people-pii", nil).Data["data"].(map[string]any)
	v.withdrawnAfter(t, ctx, "KV record of people-pii removed", killSwitchBound, func() {
		v.bao.DeleteKV(t, "phiguard/keys/people-pii")
	})
	v.bao.PutKV(t, "phiguard/keys/people-pii", record)
	waitServing(t, ctx, v.conn)

	v.withdrawnAfter(t, ctx, "transit key deleted", killSwitchBound, func() {
		v.bao.DeleteTransitKey(t, baotest.DefaultTransitKey)
	})
	v.shutdown(t)
	expectKeyEvents(t, v.served, "load", "reloaded", "withdrawn", "restored")
}

// TestKillSwitchVaultTokenRevoked: revoking phiguard's token withdraws
// the keys within one recheck; the token cannot come back, so neither do
// the keys.
func TestKillSwitchVaultTokenRevoked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v := startVaultServed(t, ctx, time.Hour)
	v.withdrawnAfter(t, ctx, "token revoked", killSwitchBound, func() { v.bao.RevokeToken(t, v.token) })
	time.Sleep(2 * killSwitchRecheck)
	expectWithdrawn(t, ctx, v.served, v.conn)
}

// TestKillSwitchVaultOutage: a sealed or stopped Vault is an outage, not
// a revocation: PHI is served from the keys in memory, /readyz stays 200,
// for the offline grace; recovery needs no restart; past the grace the
// keys are withdrawn, and come back when Vault does.
func TestKillSwitchVaultOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const grace = 4 * time.Second
	v := startVaultServed(t, ctx, grace)

	// Shorter than the grace: sealed, then stopped and restarted.
	for _, outage := range []struct {
		name       string
		start, end func()
	}{
		{"sealed", func() { v.bao.Seal(t) }, func() { v.bao.Unseal(t) }},
		{"stopped", func() { v.bao.Stop(t) }, func() { v.bao.Restart(t) }},
	} {
		outage.start()
		servedFor := time.Now().Add(grace / 2)
		for time.Now().Before(servedFor) {
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
				if ssn, err := readPHI(ctx, v.conn, mode); err != nil || ssn != "078-05-1120" {
					t.Fatalf("Vault %s for less than the grace: read %d chars, %v", outage.name, len(ssn), err)
				}
			}
			mustExec(t, ctx, v.conn, "UPDATE people SET first = $1 WHERE id = 1", "Hilda")
			time.Sleep(100 * time.Millisecond)
		}
		expectReady(t, v.served, http.StatusOK, "ready")
		storedVersion(t, ctx, v.served, 1) // fails unless the cell written during the outage is sealed
		outage.end()
		time.Sleep(2 * killSwitchRecheck) // a recheck that succeeds resets the grace
	}

	// Longer than the grace: withdrawn within grace + one recheck of the
	// outage's start, restored when Vault answers again.
	v.withdrawnAfter(t, ctx, fmt.Sprintf("Vault sealed (offline grace %s)", grace), grace+killSwitchBound, func() { v.bao.Seal(t) })
	v.bao.Unseal(t)
	waitServing(t, ctx, v.conn)
	expectReady(t, v.served, http.StatusOK, "ready")
	v.shutdown(t)
	expectKeyEvents(t, v.served, "withdrawn", "restored")
}

// TestKillSwitchVaultAppRole: with AppRole, destroying phiguard's secret
// id withdraws the keys when its token's lease runs out (phiguard cannot
// log in again: 400), within one recheck of that.
func TestKillSwitchVaultAppRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ttl = 4 * time.Second
	v := &vaultServed{bao: baotest.Start(t, baotest.Options{})}
	roleID, secretID := v.bao.EnableAppRole(t, "phiguard", phiguardVaultPolicy, ttl)
	v.secrets = []string{secretID}
	secretFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(secretFile, []byte(secretID), 0o600); err != nil {
		t.Fatal(err)
	}
	v.start(t, ctx, fmt.Sprintf("approle: {role_id: %q, secret_id_file: %q}, offline_grace: 1h", roleID, secretFile))
	// phiguard logs in again at 80% of the lease: several times here.
	time.Sleep(2 * ttl)
	if ssn, err := readPHI(ctx, v.conn, pgx.QueryExecModeSimpleProtocol); err != nil || ssn != "078-05-1120" {
		t.Fatalf("after AppRole re-logins: %v", err)
	}
	v.withdrawnAfter(t, ctx, "AppRole secret id destroyed (token lease "+ttl.String()+")", ttl+killSwitchBound, func() {
		v.bao.DestroySecretID(t, "phiguard", secretID)
	})
}
