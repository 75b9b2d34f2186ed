package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tamperLog writes a rotated log and returns its files' lines.
func tamperLog(t *testing.T, key MACKey) (dir string, fs []string) {
	dir = t.TempDir()
	a := openFile(t, dir, key, 2000, nil) // about four records a file
	for i := range 30 {
		if err := a.Record(stmt(t, "SELECT ssn FROM patients WHERE id = 7", int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	closeA(t, a)
	fs = files(t, dir)
	if len(fs) < 5 {
		t.Fatalf("want a rotated log, got %d files", len(fs))
	}
	if r := verify(t, key, fs...); !r.OK() || !r.Anchored || !r.Ended || r.Records != 32 {
		t.Fatalf("untouched log: %+v %v", r, r.Problem)
	}
	return dir, fs
}

func fileLines(t *testing.T, f string) []string {
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(raw), "\n")[:strings.Count(string(raw), "\n")]
}

func writeLines(t *testing.T, f string, ls []string) {
	if err := os.WriteFile(f, []byte(strings.Join(ls, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTamperDetected(t *testing.T) {
	key := testKey(t)
	type want struct {
		kind string
		file int // index into the files, -1 for the last
		line int
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, fs []string)
		want   want
	}{
		{"edit a field", func(t *testing.T, fs []string) {
			ls := fileLines(t, fs[2])
			ls[1] = strings.Replace(ls[1], `"user":"alice"`, `"user":"bob"`, 1)
			writeLines(t, fs[2], ls)
		}, want{Altered, 2, 2}},
		{"edit the row count", func(t *testing.T, fs []string) {
			ls := fileLines(t, fs[1])
			ls[2] = strings.Replace(ls[2], `"rows":`, `"rows":1`, 1)
			writeLines(t, fs[1], ls)
		}, want{Altered, 1, 3}},
		{"delete a record", func(t *testing.T, fs []string) {
			ls := fileLines(t, fs[2])
			writeLines(t, fs[2], append(ls[:1], ls[2:]...))
		}, want{Deleted, 2, 2}},
		{"swap two records", func(t *testing.T, fs []string) {
			ls := fileLines(t, fs[2])
			ls[1], ls[2] = ls[2], ls[1]
			writeLines(t, fs[2], ls)
		}, want{Reordered, 2, 2}},
		{"insert a forged record", func(t *testing.T, fs []string) {
			ls := fileLines(t, fs[2])
			forged := strings.Replace(ls[1], `"user":"alice"`, `"user":"mallory"`, 1)
			writeLines(t, fs[2], append(ls[:2], append([]string{forged}, ls[2:]...)...))
		}, want{Inserted, 2, 3}},
		{"replay a record", func(t *testing.T, fs []string) {
			ls := fileLines(t, fs[2])
			writeLines(t, fs[2], append(ls[:2], append([]string{ls[1]}, ls[2:]...)...))
		}, want{Inserted, 2, 3}},
		{"insert a line of junk", func(t *testing.T, fs []string) {
			ls := fileLines(t, fs[2])
			writeLines(t, fs[2], append(ls[:1], append([]string{"{}\n"}, ls[1:]...)...))
		}, want{Inserted, 2, 2}},
		{"truncate a file inside a record", func(t *testing.T, fs []string) {
			fi, _ := os.Stat(fs[1])
			os.Truncate(fs[1], fi.Size()-25)
		}, want{Truncated, 1, -1}},
		{"truncate a file at a record boundary", func(t *testing.T, fs []string) {
			ls := fileLines(t, fs[1])
			writeLines(t, fs[1], ls[:len(ls)-1])
		}, want{Deleted, 2, 1}},
		{"delete a rotated file", func(t *testing.T, fs []string) {
			os.Remove(fs[2])
		}, want{Deleted, 3, 1}},
		{"move a record to another file", func(t *testing.T, fs []string) {
			a, b := fileLines(t, fs[1]), fileLines(t, fs[3])
			writeLines(t, fs[1], a[:len(a)-1])
			writeLines(t, fs[3], append([]string{a[len(a)-1]}, b...))
		}, want{Reordered, 2, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, fs := tamperLog(t, key)
			c.tamper(t, fs)
			var present []string
			for _, f := range fs {
				if _, err := os.Stat(f); err == nil {
					present = append(present, f)
				}
			}
			r := verify(t, key, present...)
			if r.OK() {
				t.Fatalf("not detected: %+v", r)
			}
			wantFile := fs[(c.want.file+len(fs))%len(fs)]
			wantLine := c.want.line
			if wantLine < 0 {
				wantLine = len(fileLines(t, wantFile)) + 1
			}
			p := r.Problem
			if p.Kind != c.want.kind || p.File != wantFile || p.Line != wantLine {
				t.Errorf("got %v\nwant %s at %s:%d", p, c.want.kind, filepath.Base(wantFile), wantLine)
			}
		})
	}
}

func TestTruncatedTailAndMissingHead(t *testing.T) {
	key := testKey(t)
	_, fs := tamperLog(t, key)
	// Cutting the newest file at a record boundary loses the audit_stop.
	last := fs[len(fs)-1]
	ls := fileLines(t, last)
	writeLines(t, last, ls[:len(ls)-1])
	if r := verify(t, key, fs...); !r.OK() || r.Ended {
		t.Errorf("a log cut at a boundary must verify as not ended: %+v", r)
	}
	// Without the oldest file, the set is not anchored.
	if r := verify(t, key, fs[1:]...); !r.OK() || r.Anchored {
		t.Errorf("a log without its first file must verify as not anchored: %+v", r)
	}
	// A wrong key fails at the first record.
	r, err := Verify(StaticKey(randomKey()), fs...)
	if err != nil || r.OK() || r.Problem.Line != 1 || r.Problem.Kind != Altered {
		t.Errorf("wrong key: %+v %v", r, err)
	}
}
