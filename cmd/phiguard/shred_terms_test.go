package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// TestShredTermsCLI: shred destroys the key first, then waits the
// subject keys' cache TTL (1s here) before the terms; with the database
// unreachable it exits 1 naming --terms-only, the key stays destroyed and
// the cells keep their old terms; --terms-only (no --reason) then gives
// the subject's cells with search the marker's terms (none: the marker
// is NULL), 2 cells, and a second --terms-only writes none.
func TestShredTermsCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, conn := startDemoDB(t, ctx)
	t.Setenv("PHIGUARD_MASTER_KEY", newMasterKey(t))
	src, err := os.ReadFile("../../examples/policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yml")
	withTerms := strings.NewReplacer(
		"first:     {mode: randomized,    key: patients-pii,      type: text}", "first: {mode: randomized, key: patients-pii, type: text, search: [equality, order], search_key_version: 1}",
		"birthdate: {mode: randomized,    key: patients-pii,      type: date}", "birthdate: {mode: randomized, key: patients-pii, type: date, search: [order], search_key_version: 1}").Replace(string(src))
	if withTerms == string(src) {
		t.Fatal("the example policy changed: no column got search")
	}
	os.WriteFile(pol, []byte(withTerms), 0o600)
	keyring := filepath.Join(dir, "keyring.json")
	config := func(name string, port int) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("policy_file: "+pol+"\nbackend:\n  host: "+cluster.Host+"\n  port: "+strconv.Itoa(port)+
			"\n  connect_timeout: 2s\nkeys:\n  local:\n    file: "+keyring+"\n  subjects:\n    cache_ttl: 1s\naudit:\n  sink: none\n"), 0o600)
		return p
	}
	good, dead := config("good.yml", cluster.Port), config("dead.yml", 1)
	step := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runArgs(args...)
		if code != want {
			t.Fatalf("%s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out, errOut
	}
	step(0, "keys", "init", "--config", good)
	step(0, "encrypt", "--config", good)
	const victim = "982192b6-6843-4011-ef46-32caaf87d8a9"
	cells := func() [2]string {
		t.Helper()
		var v [2]string
		if err := conn.QueryRow(ctx, "SELECT first, birthdate FROM patients WHERE id = $1", victim).Scan(&v[0], &v[1]); err != nil {
			t.Fatal(err)
		}
		return v
	}
	hasTerms := func(v string) bool {
		ct, ok, err := keys.TermsOf([]byte(v))
		return ok && err == nil && (len(ct.Eq) > 0 || len(ct.Ord) > 0)
	}
	before := cells()
	if !hasTerms(before[0]) || !hasTerms(before[1]) {
		t.Fatal("encrypt wrote no terms")
	}
	out, errOut := step(1, "shred", "--config", dead, "--subject", victim, "--reason", "REQ-1")
	if !strings.Contains(out, "shredded subject key") || !strings.Contains(out, "waiting 1s") || !strings.Contains(errOut, "--terms-only") {
		t.Errorf("shred with the database down:\n%s%s", out, errOut)
	}
	if c := cells(); c != before {
		t.Error("the cells changed though the database was unreachable")
	}
	out, errOut = step(0, "shred", "--config", good, "--subject", strings.ToUpper(victim), "--terms-only")
	if !strings.Contains(out, "terms rewritten: 2 cells") {
		t.Errorf("--terms-only:\n%s%s", out, errOut)
	}
	after := cells()
	for i := range after {
		if hasTerms(after[i]) || after[i][strings.LastIndexByte(after[i], '~'):] != before[i][strings.LastIndexByte(before[i], '~'):] {
			t.Errorf("column %d after --terms-only: terms %v, ciphertext kept %v", i, hasTerms(after[i]), false)
		}
	}
	if out, _ = step(0, "shred", "--config", good, "--subject", victim, "--terms-only"); !strings.Contains(out, "terms rewritten: 0 cells") {
		t.Errorf("second --terms-only:\n%s", out)
	}
	if _, errOut = step(2, "shred", "--config", good, "--subject", victim); !strings.Contains(errOut, "--reason is required") {
		t.Errorf("shred without --reason:\n%s", errOut)
	}
}
