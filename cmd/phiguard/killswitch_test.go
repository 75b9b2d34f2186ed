package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phiguard/phiguard/keys"
)

// The kill switch (docs/kill-switch.md, package keys/keywatch), end to
// end through `phiguard serve`: the provider's standing is checked again
// on keys.*.recheck, a definite refusal withdraws the keys within one
// interval, and an answer puts them back without a restart.

const killSwitchSchema = "CREATE TABLE people (id int PRIMARY KEY, ssn text, first text)"

const killSwitchPolicy = `version: 1
tables:
  public.people:
    columns:
      ssn:   {mode: deterministic, key: people-ssn, type: text}
      first: {mode: randomized,    key: people-pii, type: text}
`

// killSwitchRecheck is the tests' keys.*.recheck: the bound they assert
// is this plus the time of one recheck and one statement.
const killSwitchRecheck = time.Second

// killSwitchBound is how long after a revocation PHI may still be served
// before waitWithdrawn fails: the recheck, the recheck's own requests and
// one statement, with room for a loaded machine.
const killSwitchBound = killSwitchRecheck + 5*time.Second

// TestKillSwitchLocalMasterKeyRemoved: removing the local master key file
// withdraws the keys at the next recheck (simple and extended protocol
// refused with 58000 naming the key id, nothing plaintext written,
// /readyz 503, audited); putting it back restores them; a rotation by
// `keys rotate` while serving is picked up.
func TestKillSwitchLocalMasterKeyRemoved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, masterFile := startLocalKillSwitch(t, ctx, killSwitchSchema, killSwitchPolicy)
	conn := srv.connect(t, ctx)
	mustExec(t, ctx, conn, "INSERT INTO people (id, ssn, first) VALUES ($1, $2, $3)", 1, "078-05-1120", "Hilda")
	expectReady(t, srv, http.StatusOK, "ready")

	master, err := os.ReadFile(masterFile)
	if err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	if err := os.Remove(masterFile); err != nil {
		t.Fatal(err)
	}
	took := waitWithdrawn(t, ctx, conn, removed, killSwitchBound)
	t.Logf("master key file removed: first refused statement after %s (recheck %s)", took.Round(time.Millisecond), killSwitchRecheck)
	expectWithdrawn(t, ctx, srv, conn)

	if err := os.WriteFile(masterFile, master, 0o600); err != nil {
		t.Fatal(err)
	}
	waitServing(t, ctx, conn)
	expectReady(t, srv, http.StatusOK, "ready")

	rotateWhileServing(t, ctx, srv, conn)
	srv.shutdown(t)
	expectKeyEvents(t, srv, "withdrawn", "restored", "reloaded")
}

// startLocalKillSwitch serves with the local provider, its master key in
// a file (returned) whose removal withdraws the keys at the next recheck.
func startLocalKillSwitch(t *testing.T, ctx context.Context, schema, policyYAML string) (*served, string) {
	t.Helper()
	masterFile := ""
	srv := startServedWith(t, ctx, schema, policyYAML, func(s *served) string {
		masterFile = filepath.Join(s.dir, "master.key")
		if err := os.WriteFile(masterFile, []byte(newMasterKey(t)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("provider: local\n  local: {file: %s, master_key_file: %s, recheck: %s}",
			filepath.Join(s.dir, "keyring"), masterFile, killSwitchRecheck)
	})
	return srv, masterFile
}

// rotateWhileServing runs `keys rotate` on people-pii while serve runs,
// and checks that it is picked up at the next recheck: new cells are
// sealed under version 2 without a restart.
func rotateWhileServing(t *testing.T, ctx context.Context, srv *served, conn *pgx.Conn) {
	t.Helper()
	if code, _, errOut := runKeysArgs("rotate", "--config", srv.configFile, "--key", "people-pii"); code != 0 {
		t.Fatalf("keys rotate: exit %d: %s", code, errOut)
	}
	deadline := time.Now().Add(killSwitchBound)
	for id := 10; ; id++ {
		mustExec(t, ctx, conn, "INSERT INTO people (id, ssn, first) VALUES ($1, $2, $3)", id, "078-05-1121", "Ida")
		if storedVersion(t, ctx, srv, id) == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotated version was not picked up within %s", killSwitchBound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustExec(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// readPHI reads the protected row in the given protocol.
func readPHI(ctx context.Context, conn *pgx.Conn, mode pgx.QueryExecMode) (string, error) {
	var ssn, first string
	err := conn.QueryRow(ctx, "SELECT ssn, first FROM people WHERE id = 1", mode).Scan(&ssn, &first)
	return ssn, err
}

// waitWithdrawn reads PHI until phiguard refuses it, and returns how long
// after since that was. Every answer before it must be the right one.
func waitWithdrawn(t *testing.T, ctx context.Context, conn *pgx.Conn, since time.Time, bound time.Duration) time.Duration {
	t.Helper()
	for {
		ssn, err := readPHI(ctx, conn, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			expectKeyRefusal(t, err)
			return time.Since(since)
		}
		if ssn != "078-05-1120" {
			t.Fatalf("read %q", ssn)
		}
		if time.Since(since) > bound {
			t.Fatalf("PHI still served %s after the revocation (bound %s)", time.Since(since).Round(time.Millisecond), bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectKeyRefusal: 58000, naming a key id, never a token.
func expectKeyRefusal(t *testing.T, err error) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "58000" || !strings.Contains(pe.Message, "withdrawn") ||
		!strings.Contains(pe.Message, `"people-`) {
		t.Fatalf("want 58000 naming the withdrawn key, got %v", err)
	}
}

// expectWithdrawn: while withdrawn, reads in both protocols and writes are
// refused, nothing is written, and /readyz says why.
func expectWithdrawn(t *testing.T, ctx context.Context, srv *served, conn *pgx.Conn) {
	t.Helper()
	for i := 0; i < 5; i++ {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			if ssn, err := readPHI(ctx, conn, mode); err == nil {
				t.Fatalf("withdrawn, yet read %d chars of PHI", len(ssn))
			} else {
				expectKeyRefusal(t, err)
			}
		}
	}
	_, err := conn.Exec(ctx, "INSERT INTO people (id, ssn, first) VALUES ($1, $2, $3)", 2, "078-05-1122", "Irma")
	expectKeyRefusal(t, err)
	direct := srv.direct(t, ctx)
	var n int
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM people WHERE id = 2").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a write while withdrawn reached the table: %d rows, %v", n, err)
	}
	expectReady(t, srv, http.StatusServiceUnavailable, "keys withdrawn")
}

// waitServing reads PHI until phiguard serves it again.
func waitServing(t *testing.T, ctx context.Context, conn *pgx.Conn) {
	t.Helper()
	deadline := time.Now().Add(killSwitchRecheck + 10*time.Second)
	for {
		ssn, err := readPHI(ctx, conn, pgx.QueryExecModeCacheStatement)
		if err == nil {
			if ssn != "078-05-1120" {
				t.Fatalf("read %q after restore", ssn)
			}
			return
		}
		expectKeyRefusal(t, err)
		if time.Now().After(deadline) {
			t.Fatal("the keys were not restored")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func expectReady(t *testing.T, srv *served, status int, body string) {
	t.Helper()
	resp, err := http.Get("http://" + srv.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(b), body) {
		t.Fatalf("/readyz: %d %q, want %d %q", resp.StatusCode, b, status, body)
	}
}

// storedVersion is the key version of row id's first cell at rest.
func storedVersion(t *testing.T, ctx context.Context, srv *served, id int) uint32 {
	t.Helper()
	var cell string
	if err := srv.direct(t, ctx).QueryRow(ctx, "SELECT first FROM people WHERE id = $1", id).Scan(&cell); err != nil {
		t.Fatal(err)
	}
	info, err := keys.Inspect([]byte(cell))
	if err != nil {
		t.Fatalf("row %d: %v", id, err)
	}
	return info.KeyVersion
}

// expectKeyEvents: the audit trail holds a key event of each action.
func expectKeyEvents(t *testing.T, srv *served, actions ...string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(srv.dir, "audit", "*.jsonl"))
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	for _, a := range actions {
		if !strings.Contains(all.String(), `"action":"`+a+`"`) {
			t.Errorf("the audit trail has no key event %q", a)
		}
	}
}
