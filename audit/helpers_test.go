package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
)

func testKey(t testing.TB) MACKey {
	t.Helper()
	dk, err := keys.GenerateDataKey("audit", 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := DeriveKey(dk)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomKey() keys.Secret {
	b := make([]byte, MACKeySize)
	rand.Read(b)
	return keys.NewSecret(b)
}

var testSession = &Session{ID: "s1", Client: "10.0.0.5:51234", TLSVersion: "TLS1.3", User: "alice", Role: "clinician", Database: "ehr"}

func analysis(t testing.TB, sql string) *sqlrewrite.Analysis {
	t.Helper()
	return sqlrewrite.Analyze(sql)
}

func stmt(t testing.TB, sql string, rows int64) *Statement {
	return &Statement{Session: testSession, Analysis: analysis(t, sql), Protocol: Simple,
		Read: []string{"public.patients.ssn"}, Decision: Allow, Rows: rows, SQLState: "00000", Duration: 1500 * time.Microsecond}
}

// openFile starts an auditor on a file sink in dir.
func openFile(t testing.TB, dir string, key MACKey, maxBytes int64, mod func(*Options)) *Auditor {
	t.Helper()
	o := Options{Instance: "test", Key: key, Sink: NewFileSink(FileOptions{Dir: dir, Prefix: "audit", MaxBytes: maxBytes}),
		Registerer: prometheus.NewRegistry(), RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func closeA(t testing.TB, a *Auditor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func files(t testing.TB, dir string) []string {
	t.Helper()
	fs, err := Files(dir, "audit")
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func readAll(t testing.TB, fs []string) []byte {
	var b bytes.Buffer
	for _, f := range fs {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
	}
	return b.Bytes()
}

func verify(t testing.TB, key MACKey, fs ...string) VerifyResult {
	t.Helper()
	r, err := Verify(StaticKey(key.Secret), fs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var _ = filepath.Join
