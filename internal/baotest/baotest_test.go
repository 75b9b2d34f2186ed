package baotest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBinaryFollowsEnv(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "bao")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PHIGUARD_BAO", fake)
	if p, ok := Binary(); p != fake || !ok {
		t.Errorf("Binary() = %q, %v; want %q, true", p, ok, fake)
	}
	gone := filepath.Join(t.TempDir(), "nothing")
	t.Setenv("PHIGUARD_BAO", gone)
	if p, ok := Binary(); p != gone || ok {
		t.Errorf("Binary() = %q, %v; want %q, false (a wrong setting must show)", p, ok, gone)
	}
}

// recorder stands in for a test to see whether Start skips or fails.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...); runtime.Goexit() }

func TestMissingBinarySkipsButFailsUnderCI(t *testing.T) {
	t.Setenv("PHIGUARD_BAO", filepath.Join(t.TempDir(), "nothing"))
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r, Options{})
		}()
		<-done
		if ci == "true" && (r.failed == "" || r.skipped != "") {
			t.Errorf("CI=true: failed=%q skipped=%q; want a failure", r.failed, r.skipped)
		}
		if ci == "" && (r.skipped == "" || r.failed != "") {
			t.Errorf("CI unset: failed=%q skipped=%q; want a skip", r.failed, r.skipped)
		}
		t.Logf("CI=%q: skip %q, fail %q", ci, r.skipped, r.failed)
	}
}

func TestKVAndTransit(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Hour)

	s.PutKV(t, "phiguard/dek", map[string]any{"wrapped": "abc"})
	if r, got := readKV(t, s, tok, "phiguard/dek", "wrapped"); r.Status != http.StatusOK || got != "abc" {
		t.Fatalf("KV read: HTTP %d %q, value %q", r.Status, r.Errors, got)
	}
	ct := encrypt(t, s, tok, DefaultTransitKey, "patient 42")
	if !strings.HasPrefix(ct, "vault:v1:") {
		t.Errorf("ciphertext %q lacks the vault:v1: prefix", ct)
	}
	wantPlaintext(t, decrypt(t, s, tok, DefaultTransitKey, ct), "patient 42")

	// The token may not touch what its policy does not name.
	r := do(t, s, http.MethodGet, "sys/mounts", tok, nil)
	want(t, "out-of-policy request", r, http.StatusForbidden, multiDenied)
}

func TestOptionsNameTheTransitKey(t *testing.T) {
	t.Parallel()
	s := start(t, Options{TransitKey: "other"})
	if r := do(t, s, http.MethodGet, "transit/keys/other", s.RootToken, nil); r.Status != http.StatusOK {
		t.Errorf("transit/keys/other: HTTP %d %q", r.Status, r.Errors)
	}
	if r := do(t, s, http.MethodGet, "transit/keys/"+DefaultTransitKey, s.RootToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("transit/keys/%s: HTTP %d, want 404", DefaultTransitKey, r.Status)
	}
}

func TestSealAndUnseal(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Hour)
	s.PutKV(t, "k", map[string]any{"v": "1"})
	roleID, secretID := s.EnableAppRole(t, "app", appPolicy, time.Hour)

	s.Seal(t)
	r, _ := readKV(t, s, tok, "k", "v")
	want(t, "(f) KV read while sealed", r, http.StatusServiceUnavailable, "Vault is sealed")
	want(t, "(f) transit encrypt while sealed",
		do(t, s, http.MethodPost, "transit/encrypt/phiguard", tok, map[string]any{"plaintext": "eA=="}),
		http.StatusServiceUnavailable, "Vault is sealed")
	want(t, "(f) AppRole login while sealed",
		do(t, s, http.MethodPost, "auth/approle/login", "", map[string]any{"role_id": roleID, "secret_id": secretID}),
		http.StatusServiceUnavailable, "Vault is sealed")
	want(t, "(f) KV read with a token that never existed while sealed",
		do(t, s, http.MethodGet, "secret/data/k", "s.doesnotexist", nil), http.StatusServiceUnavailable, "Vault is sealed")
	h := do(t, s, http.MethodGet, "sys/health", "", nil)
	if h.Status != http.StatusServiceUnavailable || !strings.Contains(string(h.Body), `"sealed":true`) {
		t.Errorf("sys/health while sealed: HTTP %d %s; want 503 and sealed:true", h.Status, h.Body)
	}
	t.Logf("(f) sys/health while sealed: HTTP %d %s", h.Status, h.Body)

	s.Unseal(t)
	if r, got := readKV(t, s, tok, "k", "v"); r.Status != http.StatusOK || got != "1" {
		t.Fatalf("KV read after unseal: HTTP %d %q, value %q", r.Status, r.Errors, got)
	}
	wantPlaintext(t, decrypt(t, s, tok, DefaultTransitKey, encrypt(t, s, tok, DefaultTransitKey, "x")), "x")
}

func TestStopAndRestartKeepData(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Hour)
	s.PutKV(t, "kept", map[string]any{"v": "still here"})
	ct := encrypt(t, s, tok, DefaultTransitKey, "before restart")

	began := time.Now()
	s.Stop(t)
	t.Logf("stopped in %s", time.Since(began).Round(time.Millisecond))
	_, err := s.Do(http.MethodGet, "sys/health", "", nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("request to a stopped server: %v; want connection refused", err)
	}
	t.Logf("stopped server: %v", err)

	addr := s.Addr
	began = time.Now()
	s.Restart(t)
	t.Logf("restarted and unsealed in %s", time.Since(began).Round(time.Millisecond))
	if s.Addr != addr {
		t.Fatalf("restart moved the server from %s to %s", addr, s.Addr)
	}
	if r, got := readKV(t, s, tok, "kept", "v"); r.Status != http.StatusOK || got != "still here" {
		t.Fatalf("KV read after restart: HTTP %d %q, value %q", r.Status, r.Errors, got)
	}
	wantPlaintext(t, decrypt(t, s, tok, DefaultTransitKey, ct), "before restart")
}

// TestSecretsStayOutOfLog runs the operations that handle secrets and then
// checks that the server log holds none of them.
func TestSecretsStayOutOfLog(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	tok := s.Token(t, appPolicy, time.Hour)
	roleID, secretID := s.EnableAppRole(t, "app", appPolicy, time.Hour)
	s.Seal(t)
	s.Unseal(t)
	s.RevokeToken(t, tok)
	s.Restart(t)
	log, err := os.ReadFile(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{
		"root token": s.RootToken, "unseal key": s.unsealKey, "token": tok,
		"role id": roleID, "secret id": secretID,
	} {
		if secret == "" || strings.Contains(string(log), secret) {
			t.Errorf("%s is empty or appears in the server log", name)
		}
	}
}
