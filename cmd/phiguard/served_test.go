package main

import (
	"context"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"go.uber.org/zap"
)

// served is `phiguard serve` running in the test from a config file, as an
// operator runs it: a PostgreSQL with the test's schema, the policy file,
// a local keyring made by `keys init`, and the audit trail in dir/audit.
type served struct {
	pg                          *pgcluster.Cluster
	dir, policyFile, configFile string
	addr                        net.Addr
	admin                       string // host:port of /metrics, /healthz and /readyz
	stopped                     bool
	stop                        context.CancelFunc
	done                        chan error
	// initArgs are added to `keys init`; beforeServe runs between it and
	// serve. startServedWith's keysYAML may set both.
	initArgs    []string
	beforeServe func()
}

func startServed(t *testing.T, ctx context.Context, schema, policyYAML string) *served {
	t.Helper()
	return startServedWith(t, ctx, schema, policyYAML, localKeys(t))
}

// localKeys is the keys: section of startServed: a local keyring under
// the test's directory, its master key in the environment.
func localKeys(t *testing.T) func(*served) string {
	return func(s *served) string {
		t.Setenv("PHIGUARD_MASTER_KEY", newMasterKey(t))
		return fmt.Sprintf("provider: local\n  local: {file: %s}", filepath.Join(s.dir, "keyring"))
	}
}

// readyz is /readyz's answer as "<status> <body>".
func readyz(t *testing.T, s *served) string {
	t.Helper()
	resp, err := http.Get("http://" + s.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
}

// startServedWith is startServed with the configuration's keys: section
// made by keysYAML (indented below "keys:"), which may also set up what
// the provider needs (a master key file, an OpenBao server) before
// `keys init` runs.
func startServedWith(t *testing.T, ctx context.Context, schema, policyYAML string, keysYAML func(*served) string) *served {
	t.Helper()
	s := prepareServed(t, ctx, schema, policyYAML, keysYAML)
	if err := s.start(t, ctx); err != nil {
		t.Fatalf("serve: %v", err)
	}
	return s
}

// prepareServed does what startServedWith does before `phiguard serve`:
// the cluster, the schema, the policy, the configuration and `keys init`.
func prepareServed(t *testing.T, ctx context.Context, schema, policyYAML string, keysYAML func(*served) string) *served {
	t.Helper()
	pg, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	if err := pg.Exec(ctx, schema); err != nil {
		t.Fatal(err)
	}
	s := &served{pg: pg, dir: t.TempDir(), done: make(chan error, 1)}
	s.policyFile = filepath.Join(s.dir, "policy.yml")
	os.WriteFile(s.policyFile, []byte(policyYAML), 0o600)
	host, port, _ := net.SplitHostPort(pg.Addr())
	s.configFile = filepath.Join(s.dir, "phiguard.yml")
	s.admin = freeAddr(t)
	os.WriteFile(s.configFile, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
admin: %s
backend: {host: %s, port: %s}
policy_file: %s
keys:
  %s
audit: {dir: %s}
log: {level: warn}
`, s.admin, host, port, s.policyFile, keysYAML(s), filepath.Join(s.dir, "audit"))), 0o600)
	if code, _, errOut := runKeysArgs(append([]string{"init", "--config", s.configFile}, s.initArgs...)...); code != 0 {
		t.Fatalf("keys init: exit %d: %s", code, errOut)
	}
	return s
}

// start runs `phiguard serve` on the prepared configuration until the test
// ends, or returns why it did not start.
func (s *served) start(t *testing.T, ctx context.Context) error {
	t.Helper()
	if s.beforeServe != nil {
		s.beforeServe()
	}
	cfg, err := loadConfig(s.configFile)
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	s.stop = stop
	ready := make(chan net.Addr, 1)
	go func() { s.done <- serve(serveCtx, cfg, zap.NewNop(), ready) }()
	select {
	case s.addr = <-ready:
	case err := <-s.done:
		stop()
		s.stopped = true
		return err
	}
	// A start after a failed one: this serve runs until shutdown stops it.
	s.stopped = false
	t.Cleanup(func() { s.shutdown(t) })
	return nil
}

// auditDir is where the prepared configuration keeps the audit trail.
func (s *served) auditDir() string { return filepath.Join(s.dir, "audit") }

// connect opens a superuser session through phiguard.
func (s *served) connect(t *testing.T, ctx context.Context) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/postgres?sslmode=disable", s.pg.Superuser, s.pg.Password, s.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// shutdown stops serve once and reports how it ended.
func (s *served) shutdown(t *testing.T) {
	if s.stopped {
		return
	}
	s.stopped = true
	s.stop()
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// freeAddr is a loopback address with a port free a moment ago, taken
// below the kernel's ephemeral range (32768 and up on Linux): every
// connection and every listener on port 0 the tests open takes its port
// from that range, and one of them took a port freeAddr had handed out
// before serve bound it (TestKillSwitchVaultAppRole: address already in
// use).
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+mathrand.IntN(12000)))
		if err != nil {
			continue // taken
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return ""
}

// direct opens a superuser session straight to PostgreSQL.
func (s *served) direct(t *testing.T, ctx context.Context) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, s.pg.URL(s.pg.Superuser, s.pg.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
