package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

func testTag(i int) string { return fmt.Sprintf("%032x", i+1) }

// second opens another provider on the same keyring: its own lock file
// description and index, as a second process would have.
func second(t *testing.T, p *Provider) *Provider {
	t.Helper()
	q, err := New(p.path, p.master)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestPackRace: two stores on one directory create the same batch at
// once, ten times over; every tag is created by exactly one of them and
// both read the winner's key.
func TestPackRace(t *testing.T) {
	p, _, _ := newProvider(t)
	q := second(t, p)
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		batch := func(who byte) map[string][]byte {
			m := make(map[string][]byte)
			for i := 0; i < 300; i++ {
				m[testTag(round*1000+i)] = bytes.Repeat([]byte{who, byte(i)}, 30)
			}
			return m
		}
		var wg sync.WaitGroup
		conflicts := make([][]string, 2)
		for n, s := range []*Provider{p, q} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.CreateSubjectKeys(ctx, batch(byte(n+1)))
				if err != nil {
					t.Error(err)
				}
				conflicts[n] = c
			}()
		}
		wg.Wait()
		lost := map[string]int{}
		for n, c := range conflicts {
			for _, tag := range c {
				lost[tag] |= 1 << n
			}
		}
		for i := 0; i < 300; i++ {
			tag := testTag(round*1000 + i)
			var want byte
			switch lost[tag] {
			case 1:
				want = 2
			case 2:
				want = 1
			default:
				t.Fatalf("tag %s: conflict mask %b, want exactly one winner", tag, lost[tag])
			}
			for _, s := range []*Provider{p, q} {
				w, err := s.GetSubjectKey(ctx, tag)
				if err != nil || len(w) != 60 || w[0] != want {
					t.Fatalf("tag %s: %x %v, want the key of store %d", tag, w, err, want)
				}
			}
		}
	}
}

// TestPackShred: a packed key shredded by one store is shredded for the
// other, which had it indexed; the wrapped bytes are gone from the pack.
func TestPackShred(t *testing.T) {
	p, path, _ := newProvider(t)
	q := second(t, p)
	ctx := context.Background()
	secret := bytes.Repeat([]byte("K"), 60)
	if _, err := p.CreateSubjectKeys(ctx, map[string][]byte{testTag(1): secret, testTag(2): []byte("other")}); err != nil {
		t.Fatal(err)
	}
	if w, err := q.GetSubjectKey(ctx, testTag(1)); err != nil || !bytes.Equal(w, secret) {
		t.Fatalf("before the shred: %q %v", w, err)
	}
	if out, err := p.ShredSubjectKey(ctx, testTag(1)); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("shred: %v %v", out, err)
	}
	if _, err := q.GetSubjectKey(ctx, testTag(1)); !errors.Is(err, keys.ErrShredded) {
		t.Fatalf("other store after the shred: %v, want ErrShredded", err)
	}
	if out, err := q.ShredSubjectKey(ctx, testTag(1)); err != nil || out != keys.ShredAlready {
		t.Fatalf("second shred: %v %v", out, err)
	}
	if err := q.CreateSubjectKey(ctx, testTag(1), secret); !errors.Is(err, keys.ErrConflict) {
		t.Fatalf("re-create after shred: %v, want ErrConflict", err)
	}
	if w, err := q.GetSubjectKey(ctx, testTag(2)); err != nil || string(w) != "other" {
		t.Fatalf("neighbour record: %q %v", w, err)
	}
	raw, err := os.ReadFile(filepath.Join(SubjectDir(path), "pack-000001"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, secret) {
		t.Error("the shredded key's wrapped bytes are still in the pack")
	}
}

// TestPackTornTail: a record cut short by a crash, and one whose checksum
// fails, are ignored; later batches append past them and are read.
func TestPackTornTail(t *testing.T) {
	p, path, _ := newProvider(t)
	ctx := context.Background()
	if err := p.CreateSubjectKey(ctx, testTag(1), []byte("one")); err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(SubjectDir(path), "pack-000001")
	f, err := os.OpenFile(pack, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := make([]byte, packRecordSize)
	if err := encodeRecord(bad, packRecord{tag: testTag(2), wrapped: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	bad[offWrapped] ^= 1 // checksum fails
	torn := make([]byte, packRecordSize)
	_ = encodeRecord(torn, packRecord{tag: testTag(3), wrapped: []byte("three")})
	if _, err := f.Write(append(bad, torn[:50]...)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	for _, s := range []*Provider{p, second(t, p)} {
		if w, err := s.GetSubjectKey(ctx, testTag(1)); err != nil || string(w) != "one" {
			t.Fatalf("intact record: %q %v", w, err)
		}
		for _, i := range []int{2, 3} {
			if _, err := s.GetSubjectKey(ctx, testTag(i)); !errors.Is(err, keys.ErrNoSubjectKey) {
				t.Fatalf("torn record %d: %v, want ErrNoSubjectKey", i, err)
			}
		}
	}
	if err := p.CreateSubjectKey(ctx, testTag(3), []byte("three again")); err != nil {
		t.Fatal(err)
	}
	if w, err := second(t, p).GetSubjectKey(ctx, testTag(3)); err != nil || string(w) != "three again" {
		t.Fatalf("record after the torn tail: %q %v", w, err)
	}
	st, _ := os.Stat(pack)
	if st.Size()%packRecordSize != 0 {
		t.Errorf("pack size %d is not a whole number of records", st.Size())
	}
}

// TestPackDamagedRecord: a record that was indexed and then fails its
// checksum is an error, never "no key" (which would let a second key be
// created for the subject).
func TestPackDamagedRecord(t *testing.T) {
	p, path, _ := newProvider(t)
	ctx := context.Background()
	if err := p.CreateSubjectKey(ctx, testTag(1), []byte("one")); err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(SubjectDir(path), "pack-000001")
	raw, _ := os.ReadFile(pack)
	raw[packRecordSize+offWrapped] ^= 1
	if err := os.WriteFile(pack, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := p.GetSubjectKey(ctx, testTag(1))
	if err == nil || errors.Is(err, keys.ErrNoSubjectKey) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged record: %v", err)
	}
	if out, err := p.ShredSubjectKey(ctx, testTag(1)); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("shred of a damaged record: %v %v", out, err)
	}
	if _, err := p.GetSubjectKey(ctx, testTag(1)); !errors.Is(err, keys.ErrShredded) {
		t.Fatalf("after shred: %v", err)
	}
}

// TestPackLegacyFiles: a store written with one file per key is read and
// shredded as before, and its tags are not created again in a pack.
func TestPackLegacyFiles(t *testing.T) {
	p, path, _ := newProvider(t)
	ctx := context.Background()
	dir := SubjectDir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i, w := range []string{"old-one", "old-two"} {
		data, _ := json.Marshal(subjectFile{Format: subjectFormat, Wrapped: []byte(w)})
		if err := os.WriteFile(filepath.Join(dir, testTag(i)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if w, err := p.GetSubjectKey(ctx, testTag(0)); err != nil || string(w) != "old-one" {
		t.Fatalf("per-file key: %q %v", w, err)
	}
	conflicts, err := p.CreateSubjectKeys(ctx, map[string][]byte{testTag(0): []byte("new"), testTag(5): []byte("five")})
	if err != nil || len(conflicts) != 1 || conflicts[0] != testTag(0) {
		t.Fatalf("batch over a per-file key: %v %v", conflicts, err)
	}
	if out, err := p.ShredSubjectKey(ctx, testTag(1)); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("shred of a per-file key: %v %v", out, err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, testTag(1)))
	if bytes.Contains(raw, []byte("old-two")) || !bytes.Contains(raw, []byte("shredded")) {
		t.Errorf("per-file key after shred: %s", raw)
	}
	for tag, want := range map[string]error{testTag(0): nil, testTag(1): keys.ErrShredded, testTag(5): nil} {
		if _, err := second(t, p).GetSubjectKey(ctx, tag); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", tag, err, want)
		}
	}
}

// TestPackRecordLimits: what does not fit a record is refused, and
// decoding rejects wrong flags and lengths even with a good checksum.
func TestPackRecordLimits(t *testing.T) {
	b := make([]byte, packRecordSize)
	if err := encodeRecord(b, packRecord{tag: testTag(1), wrapped: make([]byte, packWrappedMax+1)}); err == nil {
		t.Error("an oversized wrapped key was encoded")
	}
	if err := encodeRecord(b, packRecord{tag: "../x"}); err == nil {
		t.Error("a bad tag was encoded")
	}
	if err := encodeRecord(b, packRecord{tag: testTag(1), wrapped: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	if rec, ok := decodeRecord(b); !ok || rec.tag != testTag(1) || string(rec.wrapped) != "w" {
		t.Errorf("round trip: %+v %v", rec, ok)
	}
	if _, ok := decodeRecord(make([]byte, packRecordSize)); ok {
		t.Error("a zero record decoded")
	}
}
