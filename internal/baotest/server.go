package baotest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Options adjusts what Start sets up. The zero value is the usual server:
// transit and KV v2 mounted, transit key "phiguard".
type Options struct {
	// TransitKey names the aes256-gcm96 transit key Start creates;
	// "" means "phiguard".
	TransitKey string
	// NoTransitKey leaves transit mounted but without a key.
	NoTransitKey bool
	// Timeout bounds start-up, and each later Unseal and Restart;
	// 0 means 30 s (a server usually needs about one).
	Timeout time.Duration
}

// DefaultTransitKey is the transit key Start creates unless told otherwise.
const DefaultTransitKey = "phiguard"

// Server is one running OpenBao server, initialised and unsealed, owned by
// one test. Its methods fail that test when the server does not do what
// they ask.
type Server struct {
	Addr      string // base URL, http://127.0.0.1:<port>
	Port      int
	RootToken string // root token from init; keep it out of logs
	Dir       string // temporary directory: config, file storage, server log
	LogPath   string // the server's stdout and stderr

	binary     string
	configPath string
	timeout    time.Duration
	unsealKey  string // the single Shamir share, held in memory only
	client     *http.Client

	mu   sync.Mutex
	proc *process // nil or exited when stopped
}

// Start runs a server for t, on a free loopback port with file storage in
// a temporary directory, initialises it with one unseal key, unseals it,
// mounts transit and KV v2 (at secret/) and creates the transit key. The
// server is killed when t ends. Without a bao binary, Start skips t, or
// fails it when CI=true so that CI cannot pass by skipping.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		missing(t, bin)
	}
	dir := t.TempDir()
	s := &Server{
		Dir:        dir,
		LogPath:    filepath.Join(dir, "server.log"),
		binary:     bin,
		configPath: filepath.Join(dir, "config.hcl"),
		timeout:    opts.Timeout,
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4},
		},
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	t.Cleanup(s.cleanup)
	deadline := time.Now().Add(s.timeout)
	if err := s.launchFresh(deadline); err != nil {
		s.fatal(t, "start", err)
	}
	if err := s.initialize(); err != nil {
		s.fatal(t, "init", err)
	}
	if err := s.unseal(deadline); err != nil {
		s.fatal(t, "unseal", err)
	}
	if err := s.mount(opts, deadline); err != nil {
		s.fatal(t, "mount", err)
	}
	return s
}

// missing skips or, under CI, fails a test that has no binary to run.
func missing(t testing.TB, bin string) {
	t.Helper()
	msg := fmt.Sprintf("baotest: no executable bao at %s (set PHIGUARD_BAO to an OpenBao or Vault binary)", bin)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so this fails instead of skipping")
	}
	t.Skip(msg)
}

// fatal fails t with the error and the tail of the server log.
func (s *Server) fatal(t testing.TB, step string, err error) {
	t.Helper()
	t.Fatalf("baotest: %s: %v\nlast lines of %s:\n%s", step, err, s.LogPath, logTail(s.LogPath, 30))
}

// launchFresh picks a port, writes the config and runs the server until it
// answers HTTP. A port taken between picking and binding means try another.
func (s *Server) launchFresh(deadline time.Time) error {
	dataDir := filepath.Join(s.Dir, "data")
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		if err = writeConfig(s.configPath, dataDir, port); err != nil {
			return err
		}
		s.Port, s.Addr = port, "http://127.0.0.1:"+strconv.Itoa(port)
		from := logSize(s.LogPath)
		if err = s.launch(deadline); err == nil || !portInUse(s.LogPath, from) {
			return err
		}
	}
	return err
}

// launch starts the process on the configured port and waits until it
// answers any HTTP request (sealed or not).
func (s *Server) launch(deadline time.Time) error {
	p, err := startProcess(s.binary, s.configPath, s.LogPath)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return s.waitAnswer(p, deadline)
}

var errExited = errors.New("bao exited during start-up")

func (s *Server) waitAnswer(p *process, deadline time.Time) error {
	for {
		_, err := s.Do(http.MethodGet, "sys/health", "", nil)
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%w (%v)", errExited, p.waitErr)
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("no HTTP answer within %s (last attempt: %v)", s.timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitActive polls sys/health until it answers 200: initialised, unsealed
// and active.
func (s *Server) waitActive(deadline time.Time) error {
	for {
		r, err := s.Do(http.MethodGet, "sys/health", "", nil)
		if err == nil && r.Status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("sys/health answers HTTP %d", r.Status)
			}
			return fmt.Errorf("not ready within %s: %w", s.timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// initialize runs sys/init with a single key share and keeps the share and
// the root token.
func (s *Server) initialize() error {
	r, err := s.call(http.MethodPut, "sys/init", "", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	if err != nil {
		return err
	}
	var out struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || len(out.Keys) != 1 || out.RootToken == "" {
		return errors.New("sys/init answered without one key and a root token")
	}
	s.unsealKey, s.RootToken = out.Keys[0], out.RootToken
	return nil
}

// unseal submits the key share and waits until the server is active.
func (s *Server) unseal(deadline time.Time) error {
	r, err := s.call(http.MethodPut, "sys/unseal", "", map[string]any{"key": s.unsealKey})
	if err != nil {
		return err
	}
	var out struct {
		Sealed bool `json:"sealed"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || out.Sealed {
		return errors.New("sys/unseal left the server sealed")
	}
	return s.waitActive(deadline)
}

// call is Do with an error for any status outside 2xx.
func (s *Server) call(method, path, token string, body any) (*Response, error) {
	r, err := s.Do(method, path, token, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if r.Status < 200 || r.Status > 299 {
		return r, fmt.Errorf("%s %s: HTTP %d: %v", method, path, r.Status, r.Errors)
	}
	return r, nil
}
