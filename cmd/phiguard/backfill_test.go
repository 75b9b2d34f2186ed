package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = dispatch(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestEncryptDecryptRetireCLI runs the DBA's sequence on the demo EHR with
// the example policy: dry run, encrypt, rotate, retire refused, reencrypt,
// retire, decrypt.
func TestEncryptDecryptRetireCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, conn := startDemoDB(t, ctx)
	t.Setenv("PHIGUARD_MASTER_KEY", newMasterKey(t))
	pol, _ := filepath.Abs("../../examples/policy.yml")
	cfg := filepath.Join(t.TempDir(), "phiguard.yml")
	os.WriteFile(cfg, []byte("policy_file: "+pol+"\nbackend:\n  host: "+cluster.Host+"\n  port: "+strconv.Itoa(cluster.Port)+
		"\nkeys:\n  local:\n    file: "+filepath.Join(t.TempDir(), "keyring.json")+"\n"), 0o600)

	step := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runArgs(args...)
		if code != want {
			t.Fatalf("%s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out, errOut
	}
	step(0, "keys", "init", "--config", cfg)
	out, _ := step(0, "encrypt", "--config", cfg, "--dry-run")
	if !strings.Contains(out, "public.patients: 111 rows, 111 would be written") || !strings.Contains(out, "birthdate (date)") ||
		!strings.Contains(out, "plaintext 111") {
		t.Errorf("dry run:\n%s", out)
	}
	out, errOut := step(0, "encrypt", "--config", cfg, "--batch", "50")
	if !strings.Contains(out, "public.patients: encrypt: 111 rows examined, 111 written") ||
		!strings.Contains(errOut, "converting birthdate (date) to text") ||
		!strings.Contains(errOut, "ssn: {mode: deterministic, key: patients-ssn, type: text, state: encrypted}") ||
		!strings.Contains(errOut, "111/111 rows (100.0%)") {
		t.Errorf("encrypt:\n%s%s", out, errOut)
	}
	var plain int
	conn.QueryRow(ctx, "SELECT count(*) FROM patients WHERE ssn NOT LIKE '~phg~%' OR first NOT LIKE '~phg~%' OR birthdate NOT LIKE '~phg~%'").Scan(&plain)
	if plain != 0 {
		t.Errorf("%d rows still hold plaintext", plain)
	}

	// The example policy names a subject column for patients: its
	// randomized columns are sealed per patient, under no version of
	// patients-pii, and the deterministic ssn under its column key.
	if !strings.Contains(out, "plaintext 0, subject keys 111, null 0") {
		t.Errorf("encrypt did not seal per subject:\n%s", out)
	}
	step(0, "keys", "rotate", "--config", cfg, "--key", "patients-pii")
	step(0, "keys", "rotate", "--config", cfg, "--key", "patients-ssn")
	out, errOut = step(1, "keys", "retire", "--config", cfg, "--key", "patients-ssn", "--version", "1")
	if !strings.Contains(errOut, "key patients-ssn version 1 still encrypts cells in public.patients.ssn (111 cells)") {
		t.Errorf("retire before reencrypt:\n%s%s", out, errOut)
	}
	step(1, "keys", "retire", "--config", cfg, "--key", "patients-ssn", "--version", "2") // the write version
	_, errOut = step(1, "keys", "retire", "--config", cfg, "--key", "subjects", "--version", "1")
	if !strings.Contains(errOut, "never retired") {
		t.Errorf("retire of the subjects key:\n%s", errOut)
	}
	out, _ = step(0, "encrypt", "--config", cfg, "--reencrypt")
	if !strings.Contains(out, "public.patients: reencrypt: 111 rows examined, 111 written") || !strings.Contains(out, "ssn                  plaintext 0, v2 111") ||
		!strings.Contains(out, "first                plaintext 0, subject keys 111") {
		t.Errorf("reencrypt:\n%s", out)
	}
	for _, k := range []string{"patients-ssn", "patients-pii"} { // subject cells hold no version of patients-pii back
		out, errOut = step(0, "keys", "retire", "--config", cfg, "--key", k, "--version", "1")
		if !strings.Contains(out, "retired "+k+" version 1") {
			t.Errorf("retire:\n%s%s", out, errOut)
		}
	}
	out, _ = step(0, "decrypt", "--config", cfg, "--table", "patients", "--column", "ssn")
	if !strings.Contains(out, "public.patients: decrypt: 111 rows examined, 111 written (111 cells)") {
		t.Errorf("decrypt:\n%s", out)
	}
	var ssn string
	conn.QueryRow(ctx, "SELECT ssn FROM patients WHERE id = '982192b6-6843-4011-ef46-32caaf87d8a9'").Scan(&ssn)
	if ssn != "999-49-3983" {
		t.Errorf("decrypted ssn of the sample's first patient: %q", ssn)
	}
	step(2, "decrypt", "--config", cfg)
}
