package audit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// stdMarshal is encoding/json's output for e, the reference the hand
// encoder must reproduce byte for byte.
func stdMarshal(t testing.TB, e *Entry) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// checkEntry holds appendEntry to encoding/json: same bytes, and the bytes
// decode back to e (modulo the invalid UTF-8 both replace).
func checkEntry(t testing.TB, e *Entry) {
	t.Helper()
	want := stdMarshal(t, e)
	got := appendEntry(nil, e)
	if !bytes.Equal(got, want) {
		t.Fatalf("hand encoder differs from encoding/json\n got: %s\nwant: %s", got, want)
	}
	var back, ref Entry
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("hand encoder output does not decode: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &ref); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ref) {
		t.Fatalf("decoded entries differ\n got: %+v\nwant: %+v", back, ref)
	}
}

// nasty strings every escaping rule must get right.
var nasty = []string{
	"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x07\b\f\n\r\t\x1f\x7f end",
	"<html> & 'apos'", "utf8 é ü 漢字 🙂", "bad \xff\xfe utf8 \xc3", "trunc \xe6\xbc",
	"sep \u2028 and \u2029", "surrogate \xed\xa0\x80", "\u00a0nbsp", "\\u0041",
}

// fullEntry sets every field, so a field the encoder forgets shows up.
func fullEntry(s string) *Entry {
	return &Entry{
		Seq: 42, Time: "2026-11-30T09:00:00.000001Z", Event: s, Instance: s,
		Session: s, Client: s, TLS: s, CertSubject: s, User: s, Role: s, Database: s,
		Protocol: s, Kind: s, Fingerprint: s, SQL: s, SQLTruncated: true,
		Tables: []string{s, "t"}, Read: []string{s}, Written: []string{"w", s},
		Decision: s, Rule: s, Rows: i64(-3),
		Subjects:   []Subjects{{Table: s, Column: "id", IDs: []string{s, "2"}, Omitted: 7, NotInResult: true}, {Table: "", Column: ""}},
		DurationUS: i64(0), SQLState: s, Reason: s, Statements: i64(9), Granted: bptr(false),
		Action: s, KeyID: s, KeyVersion: 4294967295, Subject: s, Error: s,
		PolicyFile: s, PolicyVersion: s, Accepted: bptr(true), Problems: -1,
		Alert: s, Count: 1 << 62, Threshold: -(1 << 63), WindowS: 300,
		TornTailBytes: 12, Rejected: 1<<64 - 1, PrevMAC: s, MAC: s,
	}
}

func TestAppendEntryMatchesEncodingJSON(t *testing.T) {
	checkEntry(t, &Entry{}) // everything omitted but time, event, instance
	for _, s := range nasty {
		checkEntry(t, fullEntry(s))
		checkEntry(t, &Entry{Time: s, Event: EventStatement, Instance: s, SQL: s, Tables: []string{}, Subjects: []Subjects{}})
	}
	// Every field on its own, so omitempty is checked per field.
	full := reflect.ValueOf(fullEntry("x")).Elem()
	for i := range full.NumField() {
		var e Entry
		reflect.ValueOf(&e).Elem().Field(i).Set(full.Field(i))
		checkEntry(t, &e)
	}
}

func TestAppendEntryRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		if r.IntN(3) == 0 {
			return ""
		}
		return string(b)
	}
	for range 2000 {
		e := fullEntry(str())
		v := reflect.ValueOf(e).Elem()
		for i := range v.NumField() {
			f := v.Field(i)
			switch {
			case r.IntN(3) == 0:
				f.SetZero()
			case f.Kind() == reflect.String:
				f.SetString(str())
			}
		}
		checkEntry(t, e)
	}
}

func FuzzAppendEntry(f *testing.F) {
	for _, s := range nasty {
		f.Add(s, s, uint64(len(s)), int64(-len(s)), true)
	}
	f.Fuzz(func(t *testing.T, a, b string, u uint64, n int64, flag bool) {
		e := fullEntry(a)
		e.SQL, e.Rule, e.Seq, e.Count, e.SQLTruncated = b, a+b, u, n, flag
		e.Subjects[0].IDs = []string{b, a}
		checkEntry(t, e)
		checkEntry(t, &Entry{Time: b, Event: a, Instance: b, Reason: a})
	})
}

func BenchmarkAppendEntry(b *testing.B) {
	e := fullEntry("SELECT p.name, p.ssn FROM patients p WHERE p.id = $1")
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendEntry(buf[:0], e)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			stdMarshal(b, e)
		}
	})
}

func i64(v int64) *int64 { return &v }
