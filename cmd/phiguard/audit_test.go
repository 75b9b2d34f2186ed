package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
)

// auditLog writes a small log and returns its directory and key file.
func auditLog(t *testing.T) (dir, keyFile string) {
	t.Helper()
	dir = t.TempDir()
	dk, _ := keys.GenerateDataKey("audit", 1, time.Now())
	key, err := audit.DeriveKey(dk)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(t.TempDir(), "audit.key")
	os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key.Secret.Expose())+"\n"), 0o600)
	a, err := audit.New(audit.Options{Instance: "pg1", Key: key, Registerer: prometheus.NewRegistry(),
		Sink: audit.NewFileSink(audit.FileOptions{Dir: dir, Prefix: "audit", MaxBytes: 1500})})
	if err != nil {
		t.Fatal(err)
	}
	s := &audit.Session{ID: "s1", User: "alice", Role: "clinician", Database: "ehr", Client: "10.0.0.5:5000"}
	an := sqlrewrite.Analyze("SELECT name, ssn FROM patients WHERE id = 'p1'")
	for i := range 6 {
		ss := audit.NewSubjectSet("public.patients", "id", 10)
		ss.Add([]string{"p1", "p2"}[i%2])
		a.Record(&audit.Statement{Time: time.Date(2026, 3, 1, 9, i, 0, 0, time.UTC), Session: s, Analysis: an,
			Read: []string{"public.patients.ssn"}, Decision: audit.Allow, Rows: 1, Subjects: []*audit.SubjectSet{ss}, SQLState: "00000"})
	}
	a.Close(context.Background())
	return dir, keyFile
}

func TestAuditVerifyCommand(t *testing.T) {
	dir, keyFile := auditLog(t)
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"audit", "verify", "--key-file", keyFile, "--closed", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	if !strings.HasPrefix(out.String(), "OK: 8 records") {
		t.Errorf("output %q", out.String())
	}
	files, _ := audit.Files(dir, "audit")
	// Without the first file: not anchored unless --partial.
	out.Reset()
	if code := dispatch(append([]string{"audit", "verify", "--key-file", keyFile}, files[1:]...), &out, &errOut); code != 1 || !strings.Contains(out.String(), "earlier records are missing") {
		t.Errorf("missing head: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := dispatch(append([]string{"audit", "verify", "--key-file", keyFile, "--partial"}, files[1:]...), &out, &errOut); code != 0 {
		t.Errorf("--partial: exit %d, %q", code, out.String())
	}
	// An edited record.
	raw, _ := os.ReadFile(files[1])
	os.WriteFile(files[1], bytes.Replace(raw, []byte(`"rows":1`), []byte(`"rows":0`), 1), 0o600)
	out.Reset()
	code := dispatch([]string{"audit", "verify", "--key-file", keyFile, dir}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), filepath.Base(files[1])+":1: altered") {
		t.Errorf("edited: exit %d, %q", code, out.String())
	}
	if code := dispatch([]string{"audit", "verify", dir}, &out, &errOut); code != 2 {
		t.Errorf("no key: exit %d", code)
	}
}

func TestAuditReportCommand(t *testing.T) {
	dir, _ := auditLog(t)
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"audit", "report", "--subject", "p1", "--format", "json", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var as []audit.Access
	if err := json.Unmarshal(out.Bytes(), &as); err != nil || len(as) != 3 || as[0].User != "alice" || as[0].Read[0] != "public.patients.ssn" {
		t.Fatalf("json report: %v %s", err, out.String())
	}
	out.Reset()
	dispatch([]string{"audit", "report", "--subject", "p1", "--since", "2026-03-01T09:01:00Z", "--format", "csv", dir}, &out, &errOut)
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "time,user,role") {
		t.Errorf("csv report: %q", out.String())
	}
	out.Reset()
	dispatch([]string{"audit", "report", "--user", "alice", "--until", "2026-03-02", dir}, &out, &errOut)
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 7 || !strings.Contains(lines[1], "public.patients.ssn") {
		t.Errorf("table report:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
	if code := dispatch([]string{"audit", "report", dir}, &out, &errOut); code != 2 {
		t.Errorf("neither --subject nor --user: exit %d", code)
	}
}
