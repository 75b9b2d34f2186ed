package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRetireRefusedWhileTermsNeedVersion: keys retire refuses version 1
// of patients-pii while it is a column's search_key_version and while
// cells carry terms of it, even though no cell is sealed under it (the
// example's patients columns are sealed per subject), naming the column
// and the count; after search_key_version moves to 2 (rekeying) and
// phiguard encrypt rewrites the terms, it retires.
func TestRetireRefusedWhileTermsNeedVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, _ := startDemoDB(t, ctx)
	t.Setenv("PHIGUARD_MASTER_KEY", newMasterKey(t))
	src, err := os.ReadFile("../../examples/policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yml")
	const plainFirst = "first:     {mode: randomized,    key: patients-pii,      type: text}"
	writePolicy := func(first string) {
		t.Helper()
		p := strings.Replace(string(src), plainFirst, first, 1)
		if p == string(src) {
			t.Fatal("the example policy changed: first got no search")
		}
		if err := os.WriteFile(pol, []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePolicy("first: {mode: randomized, key: patients-pii, type: text, search: [equality, order], search_key_version: 1}")
	cfg := filepath.Join(dir, "phiguard.yml")
	os.WriteFile(cfg, []byte("policy_file: "+pol+"\nbackend:\n  host: "+cluster.Host+"\n  port: "+strconv.Itoa(cluster.Port)+
		"\nkeys:\n  local:\n    file: "+filepath.Join(dir, "keyring.json")+"\n"), 0o600)
	step := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runArgs(args...)
		if code != want {
			t.Fatalf("%s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out, errOut
	}
	step(0, "keys", "init", "--config", cfg)
	step(0, "encrypt", "--config", cfg)
	step(0, "keys", "rotate", "--config", cfg, "--key", "patients-pii")
	retire := []string{"keys", "retire", "--config", cfg, "--key", "patients-pii", "--version", "1"}
	_, errOut := step(1, retire...)
	for _, want := range []string{"key patients-pii version 1 is still needed by search terms",
		"it is the search_key_version of public.patients.first",
		"search terms of cells in public.patients.first (111 cells) derive from it"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("retire with terms of version 1: lacks %q:\n%s", want, errOut)
		}
	}

	writePolicy("first: {mode: randomized, key: patients-pii, type: text, state: encrypted, search: [equality, order], search_key_version: 2, search_state: rekeying}")
	_, errOut = step(1, retire...)
	if strings.Contains(errOut, "search_key_version of") || !strings.Contains(errOut, "public.patients.first (111 cells) derive from it") {
		t.Errorf("retire while rekeying, before the rewrite:\n%s", errOut)
	}
	out, errOut := step(0, "encrypt", "--config", cfg)
	if !strings.Contains(errOut, "term-key change is done") {
		t.Errorf("encrypt while rekeying:\n%s%s", out, errOut)
	}
	if out, errOut = step(0, retire...); !strings.Contains(out, "retired patients-pii version 1") {
		t.Errorf("retire after the rewrite:\n%s%s", out, errOut)
	}
}
