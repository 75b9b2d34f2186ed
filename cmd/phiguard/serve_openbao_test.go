package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/phiguard/phiguard/internal/baotest"
	"github.com/phiguard/phiguard/keys"
)

// TestServeWithOpenBao runs the Vault provider end to end against a real
// OpenBao server: `keys init --create-transit-key` with an operator's
// token, serve with a proxy token limited to keys/vault's documented
// policy, encrypted writes through pgx and reads through psql, the
// transit KEK rotated and a data key rotated while serving (old cells
// still readable, new ones under version 2), and `phiguard shred` with Vault's subject store (the
// shredded patient reads NULL within keys.subjects.cache_ttl, the other
// is untouched).
func TestServeWithOpenBao(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bao := baotest.Start(t, baotest.Options{NoTransitKey: true})
	proxyToken := bao.Token(t, phiguardVaultPolicy, 0)
	t.Setenv("PHIGUARD_TEST_VAULT_TOKEN", bao.RootToken)
	srv := startServedWith(t, ctx, openBaoSchema, openBaoPolicy, func(s *served) string {
		s.initArgs = []string{"--create-transit-key"}
		s.beforeServe = func() { t.Setenv("PHIGUARD_TEST_VAULT_TOKEN", proxyToken) }
		return fmt.Sprintf("provider: vault\n  vault: {address: %q, token_env: PHIGUARD_TEST_VAULT_TOKEN, recheck: %s}\n  subjects: {cache_ttl: 1s}",
			bao.Addr, killSwitchRecheck)
	})
	conn := srv.connect(t, ctx)
	const alice, bob = "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "9b2d6c1e-1d2a-4c7e-9a55-7f0e8e1c2b3d"
	for _, p := range [][]any{{alice, "078-05-1120", "Alice"}, {bob, "078-05-1121", "Bob"}} {
		mustExec(t, ctx, conn, "INSERT INTO patients (id, ssn, first) VALUES ($1, $2, $3)", p...)
	}
	expectPsql(t, srv, "SELECT first FROM patients WHERE ssn = '078-05-1120'", "Alice")
	var cell string
	if err := srv.direct(t, ctx).QueryRow(ctx, "SELECT first FROM patients WHERE id = $1", alice).Scan(&cell); err != nil || strings.Contains(cell, "Alice") {
		t.Fatalf("at rest: %d chars, %v", len(cell), err)
	}

	// The KEK rotated in transit, a data key rotated: old cells read, new
	// ones are sealed under the new version.
	bao.RotateTransitKey(t, baotest.DefaultTransitKey)
	if code, _, errOut := runKeysArgs("rotate", "--config", srv.configFile, "--key", "people-ssn"); code != 0 {
		t.Fatalf("keys rotate: exit %d: %s", code, errOut)
	}
	time.Sleep(2 * killSwitchRecheck)
	const carol = "5d1e7a0c-2b1f-4e8a-8f3c-6a2b9c0d1e2f"
	mustExec(t, ctx, conn, "INSERT INTO patients (id, ssn, first) VALUES ($1, $2, $3)", carol, "078-05-1122", "Carol")
	expectPsql(t, srv, "SELECT first FROM patients", "Alice,Bob,Carol")
	expectPsql(t, srv, "SELECT ssn FROM patients", "078-05-1120,078-05-1121,078-05-1122")
	var ssnCell string
	if err := srv.direct(t, ctx).QueryRow(ctx, "SELECT ssn FROM patients WHERE id = $1", carol).Scan(&ssnCell); err != nil {
		t.Fatal(err)
	}
	if info, err := keys.Inspect([]byte(ssnCell)); err != nil || info.KeyVersion != 2 {
		t.Fatalf("a cell written after the rotation: %+v, %v", info, err)
	}

	// Shred Alice with the operator's token.
	t.Setenv("PHIGUARD_TEST_VAULT_TOKEN", bao.RootToken)
	if code, out, errOut := runShredArgs("--config", srv.configFile, "--subject", alice, "--reason", "erasure request REQ-1"); code != 0 {
		t.Fatalf("shred: exit %d\n%s%s", code, out, errOut)
	}
	time.Sleep(2 * time.Second) // keys.subjects.cache_ttl 1s
	var first *string
	if err := conn.QueryRow(ctx, "SELECT first FROM patients WHERE id = $1", pgx.QueryExecModeSimpleProtocol, alice).Scan(&first); err != nil || first != nil {
		t.Fatalf("shredded patient: %v, %v", first, err)
	}
	expectPsql(t, srv, "SELECT first FROM patients WHERE ssn = '078-05-1121'", "Bob")
}

const openBaoSchema = "CREATE TABLE patients (id uuid PRIMARY KEY, ssn text, first text)"

const openBaoPolicy = `version: 1
tables:
  public.patients:
    subject_column: id
    columns:
      ssn:   {mode: deterministic, key: people-ssn, type: text}
      first: {mode: randomized,    key: people-pii, type: text}
`

// expectPsql runs sql with psql through phiguard and checks the values
// it prints, sorted and joined by commas.
func expectPsql(t *testing.T, srv *served, sql, want string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(srv.addr.String())
	cmd := exec.Command("psql", "-X", "-At", "-h", host, "-p", port, "-U", srv.pg.Superuser, "-d", "postgres", "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+srv.pg.Password, "PGSSLMODE=disable")
	out, err := cmd.CombinedOutput()
	lines := strings.Fields(string(out))
	slices.Sort(lines)
	if err != nil || strings.Join(lines, ",") != want {
		t.Fatalf("psql %q: %q, %v; want %q", sql, out, err, want)
	}
}
