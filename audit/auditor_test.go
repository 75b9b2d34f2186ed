package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRecordsAndVerify(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	a := openFile(t, dir, key, 1<<20, nil)
	for i := range 10 {
		if err := a.Record(stmt(t, "SELECT name, ssn FROM patients WHERE id = 42", int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	closeA(t, a)
	fs := files(t, dir)
	r := verify(t, key, fs...)
	if !r.OK() || r.Records != 12 || !r.Anchored || !r.Ended || r.Chains != 1 {
		t.Fatalf("verify: %+v %v", r, r.Problem)
	}
	lines := bytes.Split(bytes.TrimSpace(readAll(t, fs)), []byte("\n"))
	var e Entry
	if err := json.Unmarshal(lines[1], &e); err != nil {
		t.Fatal(err)
	}
	if e.Seq != 2 || e.Event != EventStatement || e.Kind != "select" || e.User != "alice" || len(e.Tables) != 1 || e.Tables[0] != "patients" ||
		e.Rows == nil || *e.Rows != 0 || *e.DurationUS != 1500 || e.Fingerprint == "" || strings.Contains(e.SQL, "42") {
		t.Errorf("record: %s", lines[1])
	}
	t.Logf("example: %s", lines[1])
}
