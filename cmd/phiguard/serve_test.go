package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/keys"
)

// TestServeEncrypts runs `phiguard keys init` and `serve` from a config
// file naming a policy and a local keyring, and checks that values written
// through phiguard are ciphertext in PostgreSQL and plaintext through it.
func TestServeEncrypts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startServed(t, ctx, "CREATE TABLE people (id int PRIMARY KEY, ssn text, first text)", `version: 1
tables:
  public.people:
    columns:
      ssn:   {mode: deterministic, key: people-ssn, type: text}
      first: {mode: randomized,    key: people-pii, type: text}
`)
	pg, dir, cfgFile := srv.pg, srv.dir, srv.configFile
	stopServe := func() { srv.shutdown(t) }
	conn := srv.connect(t, ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO people (id, ssn, first) VALUES ($1, $2, $3)", 1, "078-05-1120", "Hilda"); err != nil {
		t.Fatal(err)
	}
	var ssn, first string
	if err := conn.QueryRow(ctx, "SELECT ssn, first FROM people WHERE ssn = $1", "078-05-1120").Scan(&ssn, &first); err != nil {
		t.Fatal(err)
	}
	if ssn != "078-05-1120" || first != "Hilda" {
		t.Fatalf("through phiguard: %q %q", ssn, first)
	}
	direct, err := pgx.Connect(ctx, pg.URL(pg.Superuser, pg.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if err := direct.QueryRow(ctx, "SELECT ssn, first FROM people").Scan(&ssn, &first); err != nil {
		t.Fatal(err)
	}
	if !keys.IsCell([]byte(ssn)) || !keys.IsCell([]byte(first)) {
		t.Fatalf("plaintext at rest: %q %q", ssn, first)
	}
	if _, err := conn.Exec(ctx, "SELECT id FROM people WHERE first ~ '^h'"); err == nil {
		t.Fatal("a regular expression on a randomized column was not refused")
	}
	conn.Close(ctx)

	// The audit trail: one record per statement and refusal, a chain that
	// verifies with the provider's key, and no PHI value anywhere in it.
	stopServe()
	auditDir := filepath.Join(dir, "audit")
	var out, errOut strings.Builder
	if code := dispatch([]string{"audit", "verify", "--config", cfgFile, "--closed", auditDir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "it reaches the checkpoint") {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	files, _ := filepath.Glob(filepath.Join(auditDir, "*.jsonl"))
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	log := all.String()
	for _, want := range []string{`"event":"key"`, `"event":"connection_open"`, `"event":"statement"`, `"event":"refusal"`, `"event":"connection_close"`, `public.people.ssn`} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	for _, phi := range []string{"078-05-1120", "Hilda"} {
		if strings.Contains(log, phi) {
			t.Errorf("audit log holds the PHI value %q", phi)
		}
	}
	if n := strings.Count(log, `"event":"statement"`); n != 2 {
		t.Errorf("%d statement records, want 2 (the INSERT and the SELECT)\n%s", n, log)
	}
}

// TestServeRefusesToStartWithoutKeys: an unreachable Vault or keys the
// provider lacks stop serve with a clear error, before it listens.
func TestServeRefusesToStartWithoutKeys(t *testing.T) {
	dir := t.TempDir()
	pol, _ := filepath.Abs("../../examples/policy.yml")
	for name, keysYAML := range map[string]string{
		"vault unreachable": "  provider: vault\n  vault: {address: \"http://127.0.0.1:1\", token_env: TEST_SERVE_VAULT_TOKEN}\n",
		"keys not created":  "  provider: local\n  local: {file: " + filepath.Join(dir, "keyring") + "}\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("TEST_SERVE_VAULT_TOKEN", "do-not-print-this-token")
			t.Setenv("PHIGUARD_MASTER_KEY", newMasterKey(t))
			cfgFile := filepath.Join(t.TempDir(), "phiguard.yml")
			os.WriteFile(cfgFile, []byte("listen: 127.0.0.1:0\nadmin: \"\"\npolicy_file: "+pol+"\nkeys:\n"+keysYAML), 0o600)
			var out, errOut strings.Builder
			code := dispatch([]string{"serve", "--config", cfgFile}, &out, &errOut)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut.String())
			}
			if strings.Contains(errOut.String(), "do-not-print-this-token") {
				t.Fatal("the Vault token reached the output")
			}
		})
	}
}
