package keys

import (
	"context"
	"errors"
	"testing"
)

// batchStore is a memStore that creates keys in batches; before each
// batch it runs race, standing in for another proxy creating a key first.
type batchStore struct {
	*memStore
	batches, batched int
	race             func()
}

func (b *batchStore) CreateSubjectKeys(ctx context.Context, wrapped map[string][]byte) ([]string, error) {
	if b.race != nil {
		b.race()
	}
	b.batches++
	var conflicts []string
	for tag, w := range wrapped {
		if err := b.CreateSubjectKey(ctx, tag, w); errors.Is(err, ErrConflict) {
			conflicts = append(conflicts, tag)
		} else if err != nil {
			return nil, err
		}
		b.batched++
	}
	return conflicts, nil
}

func TestSubjectKeysPrepare(t *testing.T) {
	ctx := context.Background()
	kr := subjectKeyring(t)
	col := Column{Schema: "public", Table: "patients", Name: "first"}
	for _, batch := range []bool{true, false} {
		mem := &memStore{m: map[string][]byte{}}
		var store SubjectStore = mem
		bs := &batchStore{memStore: mem}
		if batch {
			store = bs
		}
		sk, err := NewSubjectKeys(kr, store, SubjectKeysOptions{})
		if err != nil {
			t.Fatal(err)
		}
		other, _ := NewSubjectKeys(kr, mem, SubjectKeysOptions{})
		if _, _, err := other.Shred(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		bs.race = func() {
			if _, err := other.Encrypt(ctx, "race", col, []byte("x")); err != nil {
				t.Error(err)
			}
		}
		if err := sk.Prepare(ctx, []string{"a", "b", "race", "gone", "a"}, 4); err != nil {
			t.Fatalf("batch %v: %v", batch, err)
		}
		if batch && (bs.batches != 1 || bs.batched != 3) {
			t.Errorf("one batch of three keys expected: %d batches, %d keys", bs.batches, bs.batched)
		}
		gets := mem.gets
		for _, s := range []string{"a", "b", "race"} {
			cell, err := sk.Encrypt(ctx, s, col, []byte("v-"+s))
			if err != nil {
				t.Fatalf("batch %v, %s: %v", batch, s, err)
			}
			// Another process reads the stored key: the prepared key is the
			// stored one, also for the subject another writer created first.
			if pt, err := other.Decrypt(ctx, col, cell); err != nil || string(pt) != "v-"+s {
				t.Errorf("batch %v, %s: %q %v", batch, s, pt, err)
			}
		}
		if _, err := sk.Encrypt(ctx, "gone", col, []byte("x")); !errors.Is(err, ErrShredded) {
			t.Errorf("batch %v: shredded subject: %v", batch, err)
		}
		if mem.gets != gets+countNew(batch) {
			t.Errorf("batch %v: Encrypt after Prepare asked the store %d times", batch, mem.gets-gets)
		}
	}
}

// countNew is how many store reads other.Decrypt makes in the loop above:
// one per subject it has not cached (race is cached when it created it).
func countNew(batch bool) int {
	if batch {
		return 2
	}
	return 3
}
