package vaultemu

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// transitKey is an aes256-gcm96 key with versions 1..n.
type transitKey struct {
	versions [][]byte // index v-1
}

func newTransitKey() *transitKey {
	k := &transitKey{}
	k.rotate()
	return k
}

func (k *transitKey) rotate() {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	k.versions = append(k.versions, b)
}

func gcm(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("BUG: vaultemu: " + err.Error())
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic("BUG: vaultemu: " + err.Error())
	}
	return a
}

// CreateTransitKey creates a transit key, as `vault write -f transit/keys/name`.
func (s *Server) CreateTransitKey(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transit[name] == nil {
		s.transit[name] = newTransitKey()
	}
}

func (s *Server) transitCreate(w http.ResponseWriter, r *http.Request, name string) {
	var req struct {
		Type string `json:"type"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req) // `vault write -f` sends no body
	if req.Type != "" && req.Type != "aes256-gcm96" {
		fail(w, http.StatusBadRequest, "vaultemu supports only aes256-gcm96 keys")
		return
	}
	s.CreateTransitKey(name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) transitRotate(w http.ResponseWriter, _ *http.Request, name string) {
	s.mu.Lock()
	k := s.transit[name]
	if k != nil {
		k.rotate()
	}
	s.mu.Unlock()
	if k == nil {
		fail(w, http.StatusBadRequest, "encryption key not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) transitEncrypt(w http.ResponseWriter, r *http.Request, name string) {
	var req struct {
		Plaintext string `json:"plaintext"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	pt, err := base64.StdEncoding.DecodeString(req.Plaintext)
	if err != nil {
		fail(w, http.StatusBadRequest, "failed to base64-decode plaintext")
		return
	}
	s.mu.Lock()
	k := s.transit[name]
	if k == nil { // Vault upserts the key on encrypt when the policy allows
		k = newTransitKey()
		s.transit[name] = k
	}
	v := len(k.versions)
	key := k.versions[v-1]
	s.mu.Unlock()

	a := gcm(key)
	nonce := make([]byte, a.NonceSize())
	_, _ = rand.Read(nonce)
	ct := a.Seal(nonce, nonce, pt, nil)
	ok(w, "transit", map[string]any{
		"ciphertext":  fmt.Sprintf("vault:v%d:%s", v, base64.StdEncoding.EncodeToString(ct)),
		"key_version": v,
	})
}

func (s *Server) transitDecrypt(w http.ResponseWriter, r *http.Request, name string) {
	var req struct {
		Ciphertext string `json:"ciphertext"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	parts := strings.SplitN(req.Ciphertext, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" || !strings.HasPrefix(parts[1], "v") {
		fail(w, http.StatusBadRequest, "invalid ciphertext: no prefix")
		return
	}
	v, err := strconv.Atoi(parts[1][1:])
	if err != nil || v < 1 {
		fail(w, http.StatusBadRequest, "invalid ciphertext: version number could not be decoded")
		return
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		fail(w, http.StatusBadRequest, "invalid ciphertext: could not decode base64")
		return
	}
	s.mu.Lock()
	k := s.transit[name]
	var key []byte
	if k != nil && v <= len(k.versions) {
		key = k.versions[v-1]
	}
	s.mu.Unlock()
	if k == nil {
		fail(w, http.StatusBadRequest, "encryption key not found")
		return
	}
	if key == nil {
		fail(w, http.StatusBadRequest, "invalid key version")
		return
	}
	a := gcm(key)
	if len(raw) < a.NonceSize() {
		fail(w, http.StatusBadRequest, "invalid ciphertext: ciphertext too short")
		return
	}
	pt, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], nil)
	if err != nil {
		fail(w, http.StatusBadRequest, "cipher: message authentication failed")
		return
	}
	ok(w, "transit", map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)})
}
