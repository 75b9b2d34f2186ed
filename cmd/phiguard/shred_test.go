package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
)

func runShredArgs(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := dispatch(append([]string{"shred"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestShredLocal(t *testing.T) {
	t.Setenv("PHIGUARD_MASTER_KEY", newMasterKey(t))
	dir := t.TempDir()
	auditDir := filepath.Join(dir, "audit")
	path := writeKeysConfig(t, "  provider: local\n  local:\n    file: "+filepath.Join(dir, "keyring.json")+"\n")
	raw, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(raw, []byte("audit:\n  dir: "+auditDir+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runKeysArgs("init", "--config", path); code != 0 {
		t.Fatalf("keys init: %s", errOut)
	}

	// A proxy writes a cell for the subject, as serve would.
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, _ := keysconfig.Provider(cfg.Keys, nil)
	kr, err := p.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := keysconfig.SubjectKeys(cfg.Keys, p, kr, nil)
	if err != nil {
		t.Fatal(err)
	}
	col := keys.Column{Schema: "public", Table: "patients", Name: "first"}
	subject := "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
	cell, err := sk.Encrypt(ctx, strings.ToLower(subject), col, []byte("Alice"))
	if err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"--config", path, "--subject", subject},
		{"--config", path, "--reason", "x"},
		{"--subject", subject, "--reason", "x"},
	} {
		if code, _, _ := runShredArgs(args...); code != 2 {
			t.Errorf("shred %v: exit %d, want 2", args, code)
		}
	}

	code, out, errOut := runShredArgs("--config", path, "--subject", subject, "--reason", "erasure request REQ-17")
	if code != 0 || !strings.Contains(out, "shredded subject key subj.") || !strings.Contains(out, "patients.ssn") {
		t.Fatalf("shred: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "Alice") {
		t.Error("output holds a value")
	}
	// Fresh state (another proxy after its cache TTL): the cell is gone.
	sk2, _ := keysconfig.SubjectKeys(cfg.Keys, p, kr, nil)
	if _, err := sk2.Decrypt(ctx, col, cell); !errors.Is(err, keys.ErrShredded) {
		t.Fatalf("Decrypt after shred: %v", err)
	}
	code, out, _ = runShredArgs("--config", path, "--subject", subject, "--reason", "again")
	if code != 0 || !strings.Contains(out, "already shredded") {
		t.Fatalf("second shred: exit %d\n%s", code, out)
	}

	// The audit trail: one key record per shred, with reason and outcome,
	// in a chain of its own that verifies.
	files, err := audit.Files(auditDir, config.Default().Audit.FilePrefix+"-shred")
	if err != nil || len(files) == 0 {
		t.Fatalf("audit files: %v %v", files, err)
	}
	var all []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	text := string(all)
	for _, want := range []string{`"action":"shred"`, `"reason":"erasure request REQ-17"`, `"outcome":"destroyed"`, `"outcome":"already_shredded"`, strings.ToLower(subject)} {
		if !strings.Contains(text, want) {
			t.Errorf("audit trail lacks %s:\n%s", want, text)
		}
	}
	if code, out, errOut := dispatchArgs("audit", "verify", "--config", path, "--prefix", "audit-shred", auditDir); code != 0 || !strings.Contains(out, "it reaches the checkpoint") {
		t.Errorf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
}

func dispatchArgs(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := dispatch(args, &out, &errOut)
	return code, out.String(), errOut.String()
}
