package vaultemu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// kvSecret is one KV v2 path with its versions (index v-1).
type kvSecret struct {
	created  time.Time
	updated  time.Time
	versions []kvVersion
}

type kvVersion struct {
	data      json.RawMessage
	created   time.Time
	destroyed bool // its data was removed by secret/destroy
}

func (s *Server) versionMeta(v int, kv kvVersion) map[string]any {
	return map[string]any{
		"created_time":    stamp(kv.created),
		"custom_metadata": nil,
		"deletion_time":   "",
		"destroyed":       kv.destroyed,
		"version":         v,
	}
}

func (s *Server) kvRead(w http.ResponseWriter, r *http.Request, path string) {
	s.mu.Lock()
	sec := s.kv[path]
	s.mu.Unlock()
	if sec == nil {
		fail(w, http.StatusNotFound)
		return
	}
	v := len(sec.versions)
	if q := r.URL.Query().Get("version"); q != "" && q != "0" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > len(sec.versions) {
			fail(w, http.StatusNotFound)
			return
		}
		v = n
	}
	kv := sec.versions[v-1]
	var data any = kv.data
	if kv.destroyed {
		data = nil // as Vault: the metadata stays, the data is gone
	}
	ok(w, "kv", map[string]any{"data": data, "metadata": s.versionMeta(v, kv)})
}

func (s *Server) kvWrite(w http.ResponseWriter, r *http.Request, path string) {
	var req struct {
		Data    json.RawMessage `json:"data"`
		Options struct {
			CAS *int `json:"cas"`
		} `json:"options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if len(req.Data) == 0 || bytes.Equal(req.Data, []byte("null")) || req.Data[0] != '{' {
		fail(w, http.StatusBadRequest, "no data provided")
		return
	}
	s.mu.Lock()
	sec := s.kv[path]
	current := 0
	if sec != nil {
		current = len(sec.versions)
	}
	if req.Options.CAS != nil && *req.Options.CAS != current {
		s.mu.Unlock()
		fail(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
		return
	}
	now := s.now()
	if sec == nil {
		sec = &kvSecret{created: now}
		s.kv[path] = sec
	}
	sec.updated = now
	kv := kvVersion{data: append(json.RawMessage(nil), req.Data...), created: now}
	sec.versions = append(sec.versions, kv)
	meta := s.versionMeta(len(sec.versions), kv)
	s.mu.Unlock()
	ok(w, "kv", meta)
}

func (s *Server) kvMetadata(w http.ResponseWriter, _ *http.Request, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.kv[path]
	if sec == nil {
		fail(w, http.StatusNotFound)
		return
	}
	versions := map[string]any{}
	for i, kv := range sec.versions {
		versions[strconv.Itoa(i+1)] = map[string]any{"created_time": stamp(kv.created), "deletion_time": "", "destroyed": kv.destroyed}
	}
	ok(w, "kv", map[string]any{
		"cas_required": false, "created_time": stamp(sec.created), "current_version": len(sec.versions),
		"custom_metadata": nil, "delete_version_after": "0s", "max_versions": 0, "oldest_version": 0,
		"updated_time": stamp(sec.updated), "versions": versions,
	})
}

// kvList lists the names directly below path: leaves, and "dir/" for
// deeper paths, sorted, as Vault does.
func (s *Server) kvList(w http.ResponseWriter, _ *http.Request, path string) {
	prefix := strings.TrimSuffix(path, "/") + "/"
	if path == "" {
		prefix = ""
	}
	seen := map[string]bool{}
	s.mu.Lock()
	for p := range s.kv {
		rest, found := strings.CutPrefix(p, prefix)
		if !found || rest == "" {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	s.mu.Unlock()
	if len(seen) == 0 {
		fail(w, http.StatusNotFound)
		return
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ok(w, "kv", map[string]any{"keys": keys})
}

// kvDestroy deletes a path's metadata and every version, as DELETE
// secret/metadata/:path does.
func (s *Server) kvDestroy(w http.ResponseWriter, _ *http.Request, path string) {
	s.mu.Lock()
	delete(s.kv, path)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// kvDestroyVersions removes the data of the listed versions for good and
// keeps their metadata, as PUT secret/destroy/:path {"versions":[...]}
// does. Unknown versions are ignored, as in Vault.
func (s *Server) kvDestroyVersions(w http.ResponseWriter, r *http.Request, path string) {
	var req struct {
		Versions []int `json:"versions"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Versions) == 0 {
		fail(w, http.StatusBadRequest, "no versions provided")
		return
	}
	s.mu.Lock()
	if sec := s.kv[path]; sec != nil {
		for _, v := range req.Versions {
			if v >= 1 && v <= len(sec.versions) {
				sec.versions[v-1].data = nil
				sec.versions[v-1].destroyed = true
			}
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
