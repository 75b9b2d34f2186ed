package baotest

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before it kills.
const stopGrace = 15 * time.Second

// Seal seals the server. Until Unseal, every request but a few sys/
// endpoints answers 503 "Vault is sealed".
func (s *Server) Seal(t testing.TB) {
	t.Helper()
	s.Call(t, http.MethodPut, "sys/seal", nil)
}

// Unseal unseals a sealed server with the key share from init and waits
// until sys/health answers 200.
func (s *Server) Unseal(t testing.TB) {
	t.Helper()
	if err := s.unseal(time.Now().Add(s.timeout)); err != nil {
		s.fatal(t, "unseal", err)
	}
}

// Stop shuts the server down with SIGTERM and waits for it to exit;
// connections are then refused. The storage stays for Restart.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil || p.exited() {
		return
	}
	err := p.stop(stopGrace)
	s.client.CloseIdleConnections()
	if err != nil {
		s.fatal(t, "stop", err)
	}
}

// Restart stops the server if it runs, starts it again on the same port
// with the same storage, unseals it and waits until it is ready. Tokens,
// secrets and transit keys written before are still there.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	deadline := time.Now().Add(s.timeout)
	if err := s.relaunch(deadline); err != nil {
		s.fatal(t, "restart", err)
	}
	if err := s.unseal(deadline); err != nil {
		s.fatal(t, "unseal after restart", err)
	}
}

// relaunch starts the process on the port it had. Nothing should hold the
// port once the old process has exited, but a stranger may have taken it
// in between; wait for it to come free rather than move to another port,
// which callers holding Addr would not follow.
func (s *Server) relaunch(deadline time.Time) error {
	for {
		from := logSize(s.LogPath)
		err := s.launch(deadline)
		if err == nil || !portInUse(s.LogPath, from) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d still in use: %w", s.Port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cleanup kills the server when the test ends. The data is throwaway, so
// there is no point in a clean shutdown.
func (s *Server) cleanup() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		p.kill()
	}
	s.client.CloseIdleConnections()
}

// mount enables transit and KV v2 at secret/, creates the transit key and
// waits until KV v2 answers: a new kv-v2 mount finishes setting itself up
// in the background, and refuses requests until then.
func (s *Server) mount(opts Options, deadline time.Time) error {
	tok := s.RootToken
	if _, err := s.call(http.MethodPost, "sys/mounts/transit", tok, map[string]any{"type": "transit"}); err != nil {
		return err
	}
	kv := map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}
	if _, err := s.call(http.MethodPost, "sys/mounts/secret", tok, kv); err != nil {
		return err
	}
	if !opts.NoTransitKey {
		name := opts.TransitKey
		if name == "" {
			name = DefaultTransitKey
		}
		if _, err := s.call(http.MethodPost, "transit/keys/"+name, tok, map[string]any{"type": "aes256-gcm96"}); err != nil {
			return err
		}
	}
	for {
		_, err := s.call(http.MethodGet, "secret/config", tok, nil)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kv-v2 at secret/ not ready: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
