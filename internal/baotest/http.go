package baotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Response is one answer of the server's HTTP API, decoded as far as the
// Vault envelope goes.
type Response struct {
	Status int            // HTTP status
	Errors []string       // the "errors" array, Vault's error texts
	Data   map[string]any // the "data" object
	Auth   map[string]any // the "auth" object (logins, token creation)
	Body   []byte         // the raw body; it may hold secrets, so never log it
}

// envelope is the JSON shape of Vault API answers.
type envelope struct {
	Errors []string       `json:"errors"`
	Data   map[string]any `json:"data"`
	Auth   map[string]any `json:"auth"`
}

// Do sends one request to /v1/<path> with token (none if empty) and a JSON
// body (none if nil). The error is for transport and decoding failures
// only: an HTTP error status is an answer, returned in Response. A sealed
// server's /v1/sys/health answers 503 with a JSON body that is not an
// envelope, so Data and Errors are left empty when the body does not parse.
func (s *Server) Do(method, path, token string, body any) (*Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Addr+"/v1/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer to %s %s: %w", method, path, err)
	}
	r := &Response{Status: resp.StatusCode, Body: raw}
	var env envelope
	if len(raw) > 0 && json.Unmarshal(raw, &env) == nil {
		r.Errors, r.Data, r.Auth = env.Errors, env.Data, env.Auth
	}
	return r, nil
}

// Call sends a request with the root token and fails the test unless the
// answer is a 2xx. The failure names the method, path, status and Vault's
// error texts, never a token or the body.
func (s *Server) Call(t testing.TB, method, path string, body any) *Response {
	t.Helper()
	r, err := s.call(method, path, s.RootToken, body)
	if err != nil {
		t.Fatalf("baotest: %v", err)
	}
	return r
}

// str reads a string field from a decoded JSON object.
func str(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return v
}
