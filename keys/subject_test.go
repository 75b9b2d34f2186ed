package keys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a SubjectStore in memory, counting Gets.
type memStore struct {
	mu   sync.Mutex
	m    map[string][]byte // nil value: tombstone
	gets int
}

func (s *memStore) GetSubjectKey(_ context.Context, tag string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	w, ok := s.m[tag]
	switch {
	case !ok:
		return nil, ErrNoSubjectKey
	case w == nil:
		return nil, ErrShredded
	}
	return w, nil
}

func (s *memStore) CreateSubjectKey(_ context.Context, tag string, w []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[tag]; ok {
		return ErrConflict
	}
	s.m[tag] = w
	return nil
}

func (s *memStore) ShredSubjectKey(_ context.Context, tag string) (ShredOutcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.m[tag]
	s.m[tag] = nil
	switch {
	case !ok:
		return ShredNoKey, nil
	case w == nil:
		return ShredAlready, nil
	}
	return ShredDestroyed, nil
}

func subjectKeyring(t testing.TB) *Keyring {
	t.Helper()
	dk, err := GenerateDataKey(SubjectKeyID, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := NewKeyring([]DataKey{dk})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSubjectKeysShred(t *testing.T) {
	ctx := context.Background()
	kr := subjectKeyring(t)
	store := &memStore{m: map[string][]byte{}}
	now := time.Now()
	clock := func() time.Time { return now }
	a, err := NewSubjectKeys(kr, store, SubjectKeysOptions{TTL: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	// A second proxy on the same store.
	b, _ := NewSubjectKeys(kr, store, SubjectKeysOptions{TTL: time.Minute, Now: clock})
	col := Column{Schema: "public", Table: "patients", Name: "first"}

	c1, err := a.Encrypt(ctx, "patient-1", col, []byte("Alice"))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := b.Encrypt(ctx, "patient-2", col, []byte("Bob"))
	if err != nil {
		t.Fatal(err)
	}
	if !IsSubjectCell(c1) || IsSubjectCell([]byte("Alice")) {
		t.Fatal("IsSubjectCell")
	}
	if strings.Contains(string(c1), "patient-1") {
		t.Fatal("the cell names the subject id")
	}
	// Either proxy reads either subject's cells.
	for _, sk := range []*SubjectKeys{a, b} {
		if pt, err := sk.Decrypt(ctx, col, c1); err != nil || string(pt) != "Alice" {
			t.Fatalf("Decrypt c1 = %q, %v", pt, err)
		}
		if pt, err := sk.Decrypt(ctx, col, c2); err != nil || string(pt) != "Bob" {
			t.Fatalf("Decrypt c2 = %q, %v", pt, err)
		}
	}
	// Another column does not open it.
	if _, err := a.Decrypt(ctx, Column{Schema: "public", Table: "patients", Name: "last"}, c1); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("cell moved to another column: %v", err)
	}

	tag, out, err := a.Shred(ctx, "patient-1")
	if err != nil || out != ShredDestroyed || tag != a.Tag("patient-1") {
		t.Fatalf("Shred = %s %v %v", tag, out, err)
	}
	if _, out, _ := a.Shred(ctx, "patient-1"); out != ShredAlready {
		t.Fatalf("second Shred = %v", out)
	}
	if _, err := a.Decrypt(ctx, col, c1); !errors.Is(err, ErrShredded) {
		t.Fatalf("Decrypt after shred on the shredding proxy: %v", err)
	}
	if _, err := a.Encrypt(ctx, "patient-1", col, []byte("again")); !errors.Is(err, ErrShredded) {
		t.Fatalf("Encrypt after shred: %v", err)
	}
	// The other proxy still holds the key until its TTL runs out, and
	// then sees the shred.
	if _, err := b.Decrypt(ctx, col, c1); err != nil {
		t.Fatalf("within the TTL the cached key still opens: %v", err)
	}
	now = now.Add(61 * time.Second)
	if _, err := b.Decrypt(ctx, col, c1); !errors.Is(err, ErrShredded) {
		t.Fatalf("after the TTL: %v, want ErrShredded", err)
	}
	if pt, err := b.Decrypt(ctx, col, c2); err != nil || string(pt) != "Bob" {
		t.Fatalf("other subject after the shred = %q, %v", pt, err)
	}
}

func TestSubjectKeysCacheAndTags(t *testing.T) {
	ctx := context.Background()
	kr := subjectKeyring(t)
	store := &memStore{m: map[string][]byte{}}
	sk, err := NewSubjectKeys(kr, store, SubjectKeysOptions{MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	col := Column{Schema: "s", Table: "t", Name: "c"}
	if _, err := sk.Encrypt(ctx, "x", col, []byte("v")); err != nil {
		t.Fatal(err)
	}
	before := store.gets
	for i := 0; i < 100; i++ {
		if _, err := sk.Encrypt(ctx, "x", col, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if store.gets != before {
		t.Errorf("cached key: %d store reads for 100 writes", store.gets-before)
	}
	for i := 0; i < 50; i++ {
		if _, err := sk.Encrypt(ctx, strings.Repeat("y", i+1), col, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	sk.mu.Lock()
	n := len(sk.cur) + len(sk.old)
	sk.mu.Unlock()
	if n > 4 {
		t.Errorf("cache holds %d entries, bound 4", n)
	}
	// Tags: canonical UUIDs, exact otherwise, not the id.
	u := "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
	if sk.Tag(u) != sk.Tag(strings.ToLower(u)) || sk.Tag(" 42 ") != sk.Tag("42") {
		t.Error("equivalent spellings give different tags")
	}
	if sk.Tag("042") == sk.Tag("42") {
		t.Error("different ids give one tag")
	}
	if tag, _ := SubjectTag(kr, "42"); tag != sk.Tag("42") || !validTag(tag) {
		t.Errorf("SubjectTag = %q", tag)
	}
	// Without the subjects key there is no crypto-shredding.
	if _, err := NewSubjectKeys(&Keyring{ids: map[string]*keyVersions{}}, store, SubjectKeysOptions{}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("NewSubjectKeys without the subjects key: %v", err)
	}
	if err := ValidatePolicyKeyID("subj.x"); err == nil {
		t.Error("a policy may name a subject key id")
	}
}

// BenchmarkSubjectEncrypt compares sealing under a cached subject key with
// sealing under a column key, and opening a subject cell.
func BenchmarkSubjectEncrypt(b *testing.B) {
	ctx := context.Background()
	dk, _ := GenerateDataKey(SubjectKeyID, 1, time.Now())
	ck, _ := GenerateDataKey("pii", 1, time.Now())
	kr, _ := NewKeyring([]DataKey{dk, ck})
	sk, _ := NewSubjectKeys(kr, &memStore{m: map[string][]byte{}}, SubjectKeysOptions{})
	col := Column{Schema: "public", Table: "patients", Name: "first"}
	pt := []byte("Alice368")
	b.Run("column-key", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := kr.Encrypt("pii", Randomized, col, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("subject-key-cached", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := sk.Encrypt(ctx, "982192b6-5d4c-4f4d-a5d3-1d2f0b1c7e10", col, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
	cell, _ := sk.Encrypt(ctx, "982192b6-5d4c-4f4d-a5d3-1d2f0b1c7e10", col, pt)
	b.Run("subject-decrypt-cached", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := sk.Decrypt(ctx, col, cell); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-subject", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := sk.Encrypt(ctx, fmt.Sprint(i), col, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSubjectCellDeterministicRefused: a subject key has no deterministic
// cipher (newRandomizedVersion), so a cell naming a subject key in
// deterministic mode, forged or corrupt, is an integrity error, not a
// crash, and such a cell cannot be written.
func TestSubjectCellDeterministicRefused(t *testing.T) {
	ctx := context.Background()
	kr := subjectKeyring(t)
	sk, err := NewSubjectKeys(kr, &memStore{m: map[string][]byte{}}, SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	col := Column{Schema: "public", Table: "patients", Name: "first"}
	if _, err := sk.Encrypt(ctx, "patient-1", col, []byte("Alice")); err != nil {
		t.Fatal(err)
	}
	e, err := sk.entry(ctx, sk.Tag("patient-1"), false)
	if err != nil || e.v.siv != nil {
		t.Fatalf("subject version: siv %v, err %v", e.v.siv, err)
	}
	if _, err := seal(e.v, Deterministic, col, []byte("Alice")); err == nil {
		t.Fatal("sealed a deterministic cell under a subject key")
	}
	// The same key with both ciphers makes the forged cell.
	full, err := newVersion(e.v.dk)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := seal(full, Deterministic, col, []byte("Alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sk.Decrypt(ctx, col, forged); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Decrypt of a deterministic subject cell: %v, want ErrIntegrity", err)
	}
}
