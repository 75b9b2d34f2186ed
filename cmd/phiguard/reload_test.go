package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const reloadPolicy = `version: 1
tables:
  public.people:
    columns:
      ssn: {mode: deterministic, key: people-ssn, type: text}
roles:
  staff:
    users: [postgres]
    statements: [read, write, ddl, copy, utility]
    other_columns: plaintext
    columns:
      people.ssn: {masked: 'MASK1-{last4}'}
`

// TestServeReloadsPolicy: serve picks up a changed policy file, rejects an
// invalid one, and reloads on SIGHUP; an open session sees each accepted
// policy at its next statement, and the audit trail records each reload.
func TestServeReloadsPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startServed(t, ctx, "CREATE TABLE people (id int PRIMARY KEY, ssn text)", reloadPolicy)
	policyFile, dir := srv.policyFile, srv.dir
	conn := srv.connect(t, ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO people (id, ssn) VALUES (1, '078-05-1120')"); err != nil {
		t.Fatal(err)
	}
	ssn := func() string {
		var s string
		if err := conn.QueryRow(ctx, "SELECT ssn FROM people WHERE id = 1", pgx.QueryExecModeSimpleProtocol).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitMask := func(want string) {
		t.Helper()
		deadline := time.Now().Add(4 * policyPollInterval)
		for ssn() != want {
			if time.Now().After(deadline) {
				t.Fatalf("still %q, want %q", ssn(), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if got := ssn(); got != "MASK1-1120" {
		t.Fatalf("before reload: %q", got)
	}
	// A changed file is picked up by the poller.
	os.WriteFile(policyFile, []byte(strings.Replace(reloadPolicy, "MASK1", "MASK2", 1)), 0o600)
	waitMask("MASK2-1120")
	// An invalid one is rejected and the policy in force stays.
	os.WriteFile(policyFile, []byte(strings.Replace(reloadPolicy, "masked:", "maskd:", 1)), 0o600)
	time.Sleep(2*policyPollInterval + 500*time.Millisecond)
	if got := ssn(); got != "MASK2-1120" {
		t.Fatalf("after an invalid file: %q", got)
	}
	// SIGHUP reloads even when size and time look unchanged.
	st, _ := os.Stat(policyFile)
	text := strings.TrimSuffix(strings.Replace(reloadPolicy, "MASK1", "MASK3", 1), "\n")
	if int64(len(text)) != st.Size() {
		t.Fatalf("test bug: %d bytes, the invalid file has %d", len(text), st.Size())
	}
	tmp := policyFile + ".new"
	os.WriteFile(tmp, []byte(text), 0o600)
	os.Chtimes(tmp, st.ModTime(), st.ModTime())
	os.Rename(tmp, policyFile) // one step: the poller never sees a changed stamp
	time.Sleep(policyPollInterval + 500*time.Millisecond)
	if got := ssn(); got != "MASK2-1120" {
		t.Fatalf("reloaded without SIGHUP: %q", got)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitMask("MASK3-1120")
	conn.Close(ctx)
	srv.shutdown(t)
	files, _ := filepath.Glob(filepath.Join(dir, "audit", "*.jsonl"))
	var log strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		log.Write(b)
	}
	if n := strings.Count(log.String(), `"event":"policy_reload"`); n != 3 {
		t.Errorf("%d policy_reload records, want 3 (accepted, rejected, accepted)\n%s", n, log.String())
	}
}
