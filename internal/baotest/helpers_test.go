package baotest

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"
)

// appPolicy is what phiguard's own token would be allowed: its KV prefix
// and the transit key.
const appPolicy = `
path "secret/data/*"     { capabilities = ["create", "read", "update"] }
path "transit/encrypt/*" { capabilities = ["update"] }
path "transit/decrypt/*" { capabilities = ["update"] }
`

// start starts a server and logs how long that took.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	began := time.Now()
	s := Start(t, opts)
	t.Logf("server at %s ready (initialised, unsealed, mounted) in %s", s.Addr, time.Since(began).Round(time.Millisecond))
	return s
}

// do sends a request and fails the test on a transport error.
func do(t *testing.T, s *Server, method, path, token string, body any) *Response {
	t.Helper()
	r, err := s.Do(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// want fails the test unless r has the status and the exact error texts.
func want(t *testing.T, what string, r *Response, status int, errs ...string) {
	t.Helper()
	t.Logf("%s: HTTP %d errors=%q", what, r.Status, r.Errors)
	if r.Status != status || !equal(r.Errors, errs) {
		t.Errorf("%s: got HTTP %d %q, want HTTP %d %q", what, r.Status, r.Errors, status, errs)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func encrypt(t *testing.T, s *Server, token, key, plaintext string) string {
	t.Helper()
	r := do(t, s, http.MethodPost, "transit/encrypt/"+key, token,
		map[string]any{"plaintext": base64.StdEncoding.EncodeToString([]byte(plaintext))})
	ct := str(r.Data, "ciphertext")
	if r.Status != http.StatusOK || ct == "" {
		t.Fatalf("encrypt with %s: HTTP %d %q", key, r.Status, r.Errors)
	}
	return ct
}

// decrypt returns the raw answer, so that tests can check failures too.
func decrypt(t *testing.T, s *Server, token, key, ciphertext string) *Response {
	t.Helper()
	return do(t, s, http.MethodPost, "transit/decrypt/"+key, token, map[string]any{"ciphertext": ciphertext})
}

func wantPlaintext(t *testing.T, r *Response, plaintext string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("decrypt: HTTP %d %q", r.Status, r.Errors)
	}
	got, err := base64.StdEncoding.DecodeString(str(r.Data, "plaintext"))
	if err != nil || string(got) != plaintext {
		t.Fatalf("decrypt: got %q (%v), want %q", got, err, plaintext)
	}
}

// readKV reads the current version of secret/<path> and returns the
// answer and the secret's field f.
func readKV(t *testing.T, s *Server, token, path, f string) (*Response, string) {
	t.Helper()
	r := do(t, s, http.MethodGet, "secret/data/"+path, token, nil)
	inner, _ := r.Data["data"].(map[string]any)
	return r, str(inner, f)
}
