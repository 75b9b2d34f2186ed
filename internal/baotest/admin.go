package baotest

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// policySeq numbers the policies Token creates, so that tokens of one
// server never share one by accident.
var policySeq atomic.Int64

// WritePolicy creates or replaces the ACL policy name.
func (s *Server) WritePolicy(t testing.TB, name, policyHCL string) {
	t.Helper()
	s.Call(t, http.MethodPut, "sys/policies/acl/"+name, map[string]any{"policy": policyHCL})
}

// Token creates a policy from policyHCL and a token that has it (besides
// the default policy) and lives for ttl (0: the mount's default, 32 days).
func (s *Server) Token(t testing.TB, policyHCL string, ttl time.Duration) string {
	t.Helper()
	name := "baotest-" + strconv.FormatInt(policySeq.Add(1), 10)
	s.WritePolicy(t, name, policyHCL)
	req := map[string]any{"policies": []string{name}}
	if ttl > 0 {
		req["ttl"] = seconds(ttl)
	}
	r := s.Call(t, http.MethodPost, "auth/token/create", req)
	tok := str(r.Auth, "client_token")
	if tok == "" {
		t.Fatal("baotest: auth/token/create answered without a client token")
	}
	return tok
}

// RevokeToken revokes tok and its children. Requests with it then answer
// 403 "permission denied".
func (s *Server) RevokeToken(t testing.TB, tok string) {
	t.Helper()
	s.Call(t, http.MethodPost, "auth/token/revoke", map[string]any{"token": tok})
}

// RotateTransitKey adds a new version to the transit key name; new
// ciphertexts use it, old ones still decrypt.
func (s *Server) RotateTransitKey(t testing.TB, name string) {
	t.Helper()
	s.Call(t, http.MethodPost, "transit/keys/"+name+"/rotate", nil)
}

// SetMinDecryptionVersion makes transit refuse ciphertexts of versions
// below v of the key name.
func (s *Server) SetMinDecryptionVersion(t testing.TB, name string, v int) {
	t.Helper()
	s.Call(t, http.MethodPost, "transit/keys/"+name+"/config", map[string]any{"min_decryption_version": v})
}

// DeleteTransitKey deletes the transit key name and all its versions,
// first allowing deletion, which transit refuses by default.
func (s *Server) DeleteTransitKey(t testing.TB, name string) {
	t.Helper()
	s.Call(t, http.MethodPost, "transit/keys/"+name+"/config", map[string]any{"deletion_allowed": true})
	s.Call(t, http.MethodDelete, "transit/keys/"+name, nil)
}

// PutKV writes a new version of the KV v2 secret at path (below secret/).
func (s *Server) PutKV(t testing.TB, path string, data map[string]any) {
	t.Helper()
	s.Call(t, http.MethodPost, "secret/data/"+path, map[string]any{"data": data})
}

// DeleteKV deletes the KV v2 secret at path (below secret/) with all its
// versions and metadata, as if it had never been written.
func (s *Server) DeleteKV(t testing.TB, path string) {
	t.Helper()
	s.Call(t, http.MethodDelete, "secret/metadata/"+path, nil)
}

// EnableAppRole mounts the AppRole auth method at approle/ (once per
// server), writes policyHCL as the policy "approle-<role>", creates role
// with that policy and tokens that live for ttl (0: the default), and
// returns its role_id and a new secret_id.
func (s *Server) EnableAppRole(t testing.TB, role, policyHCL string, ttl time.Duration) (roleID, secretID string) {
	t.Helper()
	if auths := s.Call(t, http.MethodGet, "sys/auth", nil); auths.Data["approle/"] == nil {
		s.Call(t, http.MethodPost, "sys/auth/approle", map[string]any{"type": "approle"})
	}
	policy := "approle-" + role
	s.WritePolicy(t, policy, policyHCL)
	req := map[string]any{"token_policies": []string{policy}}
	if ttl > 0 {
		req["token_ttl"] = seconds(ttl)
	}
	s.Call(t, http.MethodPost, "auth/approle/role/"+role, req)
	roleID = str(s.Call(t, http.MethodGet, "auth/approle/role/"+role+"/role-id", nil).Data, "role_id")
	if roleID == "" {
		t.Fatal("baotest: approle role-id answered without a role_id")
	}
	return roleID, s.NewSecretID(t, role)
}

// NewSecretID issues another secret_id for the AppRole role.
func (s *Server) NewSecretID(t testing.TB, role string) string {
	t.Helper()
	id := str(s.Call(t, http.MethodPost, "auth/approle/role/"+role+"/secret-id", nil).Data, "secret_id")
	if id == "" {
		t.Fatal("baotest: approle secret-id answered without a secret_id")
	}
	return id
}

// DestroySecretID destroys secretID of role; logging in with it then
// answers 400 "invalid role or secret ID".
func (s *Server) DestroySecretID(t testing.TB, role, secretID string) {
	t.Helper()
	s.Call(t, http.MethodPost, "auth/approle/role/"+role+"/secret-id/destroy", map[string]any{"secret_id": secretID})
}

// seconds writes a duration the way Vault's API parses it.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + "s"
}
