package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// openAuditLog starts an auditor as serve does (audit.Open with the
// default audit section), writes n statement records and waits until they
// are on disk. The auditor stays open: the log has no audit_stop.
func openAuditLog(t *testing.T, n int) (a *audit.Auditor, dir, keyFile string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "audit")
	dk, _ := keys.GenerateDataKey("audit", 1, time.Now())
	key, err := audit.DeriveKey(dk)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(t.TempDir(), "audit.key")
	os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key.Secret.Expose())+"\n"), 0o600)
	ac := config.DefaultAudit()
	ac.Dir, ac.Instance = dir, "pg1"
	a, err = audit.Open(ac, key, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(t.Context()) })
	s := &audit.Session{ID: "s1", User: "alice", Role: "clinician", Database: "ehr", Client: "10.0.0.5:5000"}
	an := sqlrewrite.Analyze("SELECT name, ssn FROM patients WHERE id = 'p1'")
	for range n {
		if err := a.Record(&audit.Statement{Session: s, Analysis: an, Read: []string{"public.patients.ssn"}, Decision: audit.Allow, Rows: 1, SQLState: "00000"}); err != nil {
			t.Fatal(err)
		}
	}
	// Written once checkpointed: the checkpoint follows every durable write.
	for deadline := time.Now().Add(10 * time.Second); a.Checkpointed() < uint64(n+1); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the records were not written and checkpointed")
		}
	}
	return a, dir, keyFile
}

// dropLastRecords removes the last n records of the newest file, at a
// record boundary, as someone with write access to the directory can.
func dropLastRecords(t *testing.T, dir string, n int) {
	t.Helper()
	fs, _ := audit.Files(dir, "audit")
	f := fs[len(fs)-1]
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.SplitAfter(string(raw), "\n")
	ls = ls[:len(ls)-1] // the empty string after the last newline
	if err := os.WriteFile(f, []byte(strings.Join(ls[:len(ls)-n], "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyOpenLogTruncated(t *testing.T) {
	for _, cut := range []int{1, 300} {
		_, dir, keyFile := openAuditLog(t, 400)
		var out, errOut bytes.Buffer
		if code := dispatch([]string{"audit", "verify", "--key-file", keyFile, dir}, &out, &errOut); code != 0 {
			t.Fatalf("healthy open log: exit %d: %s %s", code, out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), "; it reaches the checkpoint (seq 401 at ") {
			t.Errorf("healthy open log: %q", out.String())
		}
		dropLastRecords(t, dir, cut)
		out.Reset()
		code := dispatch([]string{"audit", "verify", "--key-file", keyFile, dir}, &out, &errOut)
		want := fmt.Sprintf("truncated (seq %d): the log ends at seq %d but the checkpoint %s records seq 401 at ", 402-cut, 401-cut, filepath.Join(dir, "audit.checkpoint"))
		if code != 1 || !strings.HasPrefix(out.String(), "BROKEN after ") || !strings.Contains(out.String(), want) {
			t.Errorf("last %d records removed from an open log: exit %d, %q", cut, code, out.String())
		}
		t.Logf("cut %d: %s", cut, out.String())
		// An archived copy that ends early on purpose: --checkpoint none.
		out.Reset()
		if code := dispatch([]string{"audit", "verify", "--key-file", keyFile, "--checkpoint", "none", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "no checkpoint to tell") {
			t.Errorf("--checkpoint none: exit %d, %q", code, out.String())
		}
	}
}

func TestAuditVerifyCheckpointRemoved(t *testing.T) {
	_, dir, keyFile := openAuditLog(t, 10)
	cp := filepath.Join(dir, "audit.checkpoint")
	moved := filepath.Join(t.TempDir(), "elsewhere.checkpoint")
	if err := os.Rename(cp, moved); err != nil {
		t.Fatal(err)
	}
	dropLastRecords(t, dir, 2)
	var out, errOut bytes.Buffer
	// Named explicitly (or by --config), a checkpoint must be there.
	code := dispatch([]string{"audit", "verify", "--key-file", keyFile, "--checkpoint", cp, dir}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "BROKEN: there is no checkpoint at "+cp) {
		t.Errorf("missing checkpoint: exit %d, %q", code, out.String())
	}
	out.Reset()
	code = dispatch([]string{"audit", "verify", "--key-file", keyFile, "--checkpoint", moved, dir}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "truncated (seq 10)") {
		t.Errorf("checkpoint kept elsewhere: exit %d, %q", code, out.String())
	}
}
