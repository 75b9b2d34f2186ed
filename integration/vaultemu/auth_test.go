package vaultemu

import (
	"testing"
	"time"
)

func TestTokensAndPolicies(t *testing.T) {
	emu, srv := start(t)
	emu.CreateTransitKey("kek")
	emu.AddToken("limited", 0, "transit/encrypt/kek", "secret/data/phiguard/*")

	for _, tc := range []struct {
		token, method, path string
		want                int
	}{
		{"", "GET", "secret/data/phiguard/a", 403},
		{"wrong", "GET", "secret/data/phiguard/a", 403},
		{"limited", "GET", "secret/data/phiguard/a", 404},
		{"limited", "GET", "secret/data/other/a", 403},
		{"limited", "POST", "transit/decrypt/kek", 403},
		{"limited", "GET", "auth/token/lookup-self", 200},
		{"root", "GET", "secret/data/other/a", 404},
		{"", "GET", "sys/health", 200},
		{"root", "GET", "nothing/here", 404},
	} {
		code, resp := call(t, srv, tc.token, tc.method, tc.path, `{"plaintext":""}`)
		if code != tc.want {
			t.Errorf("%s %s as %q: %d, want %d", tc.method, tc.path, tc.token, code, tc.want)
		}
		if code == 403 && (len(errorsOf(resp)) != 1 || errorsOf(resp)[0] != "permission denied") {
			t.Errorf("403 body: %v", resp)
		}
	}
}

func TestAppRoleLogin(t *testing.T) {
	emu, srv := start(t)
	now := time.Now()
	emu.now = func() time.Time { return now }
	emu.AddAppRole("phiguard", "role-1", "secret-1", time.Minute, "secret/data/*")

	if code, resp := call(t, srv, "", "POST", "auth/approle/login", `{"role_id":"role-1","secret_id":"nope"}`); code != 400 ||
		errorsOf(resp)[0] != "invalid role or secret ID" {
		t.Fatalf("bad secret: %d %v", code, resp)
	}
	code, resp := call(t, srv, "", "POST", "auth/approle/login", `{"role_id":"role-1","secret_id":"secret-1"}`)
	auth, _ := resp["auth"].(map[string]any)
	if code != 200 || auth == nil || auth["lease_duration"] != float64(60) {
		t.Fatalf("login: %d %v", code, resp)
	}
	tok := auth["client_token"].(string)
	if code, _ := call(t, srv, tok, "GET", "secret/data/x", ``); code != 404 {
		t.Errorf("token use: %d", code)
	}
	if code, _ := call(t, srv, tok, "POST", "transit/encrypt/kek", `{}`); code != 403 {
		t.Errorf("outside policy: %d", code)
	}
	now = now.Add(2 * time.Minute)
	if code, _ := call(t, srv, tok, "GET", "secret/data/x", ``); code != 403 {
		t.Errorf("expired token: %d", code)
	}
}
