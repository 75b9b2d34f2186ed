package vaultemu

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// token is an issued token: root, or limited to path patterns.
type token struct {
	id       string
	policies []string  // "root" grants everything
	paths    []string  // Vault-style patterns: exact, or a prefix ending in "*"
	expires  time.Time // zero: never
	created  time.Time
}

// appRole is a role with one secret id.
type appRole struct {
	name     string
	secretID string
	ttl      time.Duration
	paths    []string
}

// AddToken registers a token limited to paths (Vault-style patterns such
// as "secret/data/phiguard/*" or "transit/decrypt/phiguard"); no paths
// means it may do nothing but look itself up. ttl 0 never expires.
func (s *Server) AddToken(id string, ttl time.Duration, paths ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &token{id: id, paths: paths, policies: []string{"default"}, created: s.now()}
	if ttl > 0 {
		t.expires = s.now().Add(ttl)
	}
	s.tokens[id] = t
}

// AddAppRole registers an AppRole whose login (role_id, secret_id) issues a
// token limited to paths that lives for ttl (0: never expires).
func (s *Server) AddAppRole(name, roleID, secretID string, ttl time.Duration, paths ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approles[roleID] = &appRole{name: name, secretID: secretID, ttl: ttl, paths: paths}
}

// RevokeToken forgets a token.
func (s *Server) RevokeToken(id string) { s.mu.Lock(); delete(s.tokens, id); s.mu.Unlock() }

// allowed reports whether token may use path.
func (s *Server) allowed(tok, path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	if t == nil || tok == "" {
		return false
	}
	if !t.expires.IsZero() && s.now().After(t.expires) {
		delete(s.tokens, tok)
		return false
	}
	if path == "auth/token/lookup-self" || t.policies[0] == "root" {
		return true
	}
	for _, p := range t.paths {
		if prefix, glob := strings.CutSuffix(p, "*"); glob && strings.HasPrefix(path, prefix) || p == path {
			return true
		}
	}
	return false
}

func (s *Server) appRoleLogin(w http.ResponseWriter, r *http.Request, _ string) {
	var req struct {
		RoleID   string `json:"role_id"`
		SecretID string `json:"secret_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if req.RoleID == "" {
		fail(w, http.StatusBadRequest, "missing role_id")
		return
	}
	s.mu.Lock()
	role := s.approles[req.RoleID]
	if role == nil || role.secretID != req.SecretID {
		s.mu.Unlock()
		fail(w, http.StatusBadRequest, "invalid role or secret ID")
		return
	}
	t := &token{id: "hvs.emu" + strings.ReplaceAll(newID(), "-", ""), paths: role.paths,
		policies: []string{"default", role.name}, created: s.now()}
	if role.ttl > 0 {
		t.expires = s.now().Add(role.ttl)
	}
	s.tokens[t.id] = t
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, envelope{
		RequestID: newID(),
		Auth: map[string]any{
			"client_token":   t.id,
			"accessor":       newID(),
			"policies":       t.policies,
			"token_policies": t.policies,
			"metadata":       map[string]string{"role_name": role.name},
			"lease_duration": int(role.ttl / time.Second),
			"renewable":      true,
			"entity_id":      newID(),
			"token_type":     "service",
			"orphan":         true,
		},
	})
}

func (s *Server) lookupSelf(w http.ResponseWriter, r *http.Request, _ string) {
	tok := r.Header.Get("X-Vault-Token")
	if tok == "" {
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	s.mu.Lock()
	t := s.tokens[tok]
	s.mu.Unlock()
	if t == nil {
		denied(w)
		return
	}
	ttl := 0
	if !t.expires.IsZero() {
		ttl = int(time.Until(t.expires) / time.Second)
	}
	ok(w, "token", map[string]any{
		"id": t.id, "policies": t.policies, "ttl": ttl, "creation_time": t.created.Unix(),
		"display_name": "token", "type": "service", "renewable": !t.expires.IsZero(),
	})
}
