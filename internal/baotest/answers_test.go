package baotest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// These tests pin the exact answers that a client must classify as "this
// credential or key is gone" versus "Vault is unavailable". The package
// doc lists them; keep the two in step.

// multiDenied is how OpenBao words a 403 for a live token whose policy
// lacks the capability: a hashicorp/go-multierror rendering. A dead token
// gets the bare "permission denied".
const multiDenied = "1 error occurred:\n\t* permission denied\n\n"

func TestAnswersForDeletedTransitKey(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Hour)
	ct := encrypt(t, s, tok, DefaultTransitKey, "secret")
	s.DeleteTransitKey(t, DefaultTransitKey)

	want(t, "(a) decrypt with a deleted transit key", decrypt(t, s, tok, DefaultTransitKey, ct),
		http.StatusBadRequest, "encryption key not found")
	// Encrypting to a missing key would create it (transit upserts), which
	// needs the create capability: a token with update only is refused.
	want(t, "(a') encrypt with a deleted transit key, update-only token",
		do(t, s, http.MethodPost, "transit/encrypt/"+DefaultTransitKey, tok, map[string]any{"plaintext": "eA=="}),
		http.StatusForbidden, multiDenied)
}

func TestAnswersForMinDecryptionVersion(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Hour)
	v1 := encrypt(t, s, tok, DefaultTransitKey, "old")
	s.RotateTransitKey(t, DefaultTransitKey)
	v2 := encrypt(t, s, tok, DefaultTransitKey, "new")
	if !strings.HasPrefix(v2, "vault:v2:") {
		t.Errorf("after rotation the ciphertext is %q, want vault:v2:", v2)
	}
	wantPlaintext(t, decrypt(t, s, tok, DefaultTransitKey, v1), "old")
	s.SetMinDecryptionVersion(t, DefaultTransitKey, 2)

	want(t, "(b) decrypt of vault:v1: with min_decryption_version=2", decrypt(t, s, tok, DefaultTransitKey, v1),
		http.StatusBadRequest, "ciphertext or signature version is disallowed by policy (too old)")
	wantPlaintext(t, decrypt(t, s, tok, DefaultTransitKey, v2), "new")
}

func TestAnswersForRevokedToken(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Hour)
	s.PutKV(t, "k", map[string]any{"v": "1"})
	ct := encrypt(t, s, tok, DefaultTransitKey, "x")
	s.RevokeToken(t, tok)

	r, _ := readKV(t, s, tok, "k", "v")
	want(t, "(c) KV read with a revoked token", r, http.StatusForbidden, "permission denied")
	want(t, "(c) transit decrypt with a revoked token", decrypt(t, s, tok, DefaultTransitKey, ct),
		http.StatusForbidden, "permission denied")
	want(t, "(c) token lookup-self with a revoked token",
		do(t, s, http.MethodGet, "auth/token/lookup-self", tok, nil), http.StatusForbidden, "permission denied")
	want(t, "(c) token renew-self with a revoked token",
		do(t, s, http.MethodPost, "auth/token/renew-self", tok, map[string]any{}), http.StatusForbidden, "permission denied")
	want(t, "(c') KV read with a token that never existed",
		do(t, s, http.MethodGet, "secret/data/k", "s.doesnotexist", nil), http.StatusForbidden, "permission denied")
}

func TestAnswersForExpiredToken(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Second)
	s.PutKV(t, "k", map[string]any{"v": "1"})
	time.Sleep(1500 * time.Millisecond)
	r, _ := readKV(t, s, tok, "k", "v")
	want(t, "(c'') KV read with an expired token", r, http.StatusForbidden, "permission denied")
}

func TestAnswersForDestroyedSecretID(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	roleID, secretID := s.EnableAppRole(t, "phiguard", appPolicy, time.Hour)
	login := map[string]any{"role_id": roleID, "secret_id": secretID}
	r := do(t, s, http.MethodPost, "auth/approle/login", "", login)
	tok := str(r.Auth, "client_token")
	if r.Status != http.StatusOK || tok == "" {
		t.Fatalf("AppRole login: HTTP %d %q", r.Status, r.Errors)
	}
	s.PutKV(t, "k", map[string]any{"v": "1"})
	s.DestroySecretID(t, "phiguard", secretID)

	want(t, "(d) AppRole login with a destroyed secret_id", do(t, s, http.MethodPost, "auth/approle/login", "", login),
		http.StatusBadRequest, "invalid role or secret ID")
	want(t, "(d') AppRole login with a secret_id that never existed",
		do(t, s, http.MethodPost, "auth/approle/login", "", map[string]any{"role_id": roleID, "secret_id": "nonsense"}),
		http.StatusBadRequest, "invalid role or secret ID")
	// Destroying the secret_id does not revoke the tokens it logged in.
	if r, got := readKV(t, s, tok, "k", "v"); r.Status != http.StatusOK || got != "1" {
		t.Errorf("(d'') token from a destroyed secret_id: HTTP %d %q; want it to keep working", r.Status, r.Errors)
	}
}

func TestAnswersForDeletedKV(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Hour)
	s.PutKV(t, "gone", map[string]any{"v": "1"})
	s.DeleteKV(t, "gone")
	r, _ := readKV(t, s, tok, "gone", "v")
	want(t, "(e) KV read of a path deleted with its metadata", r, http.StatusNotFound)
	if string(r.Body) != `{"errors":[]}`+"\n" {
		t.Errorf("(e) body %q, want {\"errors\":[]}", r.Body)
	}
	r, _ = readKV(t, s, tok, "never", "v")
	want(t, "(e') KV read of a path never written", r, http.StatusNotFound)

	// A soft delete (DELETE secret/data/<path>) is also a 404, but with the
	// version's metadata, deletion_time set, in the body.
	s.PutKV(t, "soft", map[string]any{"v": "1"})
	s.Call(t, http.MethodDelete, "secret/data/soft", nil)
	r, _ = readKV(t, s, tok, "soft", "v")
	want(t, "(e'') KV read of a soft-deleted version", r, http.StatusNotFound)
	meta, _ := r.Data["metadata"].(map[string]any)
	if str(meta, "deletion_time") == "" {
		t.Errorf("(e'') soft delete: no deletion_time in %v", r.Data)
	}
}
