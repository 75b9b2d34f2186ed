package vaultemu

import (
	"encoding/json"
	"net/http"
	"time"
)

// envelope is Vault's response body for a successful request.
type envelope struct {
	RequestID     string   `json:"request_id"`
	LeaseID       string   `json:"lease_id"`
	Renewable     bool     `json:"renewable"`
	LeaseDuration int      `json:"lease_duration"`
	Data          any      `json:"data"`
	WrapInfo      any      `json:"wrap_info"`
	Warnings      []string `json:"warnings"`
	Auth          any      `json:"auth"`
	MountType     string   `json:"mount_type,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ok writes {"data": data} with Vault's envelope fields.
func ok(w http.ResponseWriter, mountType string, data any) {
	writeJSON(w, http.StatusOK, envelope{RequestID: newID(), Data: data, MountType: mountType})
}

// fail writes Vault's error shape: {"errors": [...]}.
func fail(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string][]string{"errors": msgs})
}

func denied(w http.ResponseWriter) { fail(w, http.StatusForbidden, "permission denied") }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
