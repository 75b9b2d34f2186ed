package subjecttest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

// Tags for the checks; valid subject tags (32 lower-case hex digits).
const (
	tagA = "0123456789abcdef0123456789abcdef"
	tagB = "fedcba9876543210fedcba9876543210"
	tagC = "00000000000000000000000000000000"
)

// Run checks store: absent keys, create-if-absent (also racing), shred
// with its three outcomes, and that a shredded key cannot be re-created.
func Run(t *testing.T, store keys.SubjectStore) {
	t.Helper()
	ctx := context.Background()
	if _, err := store.GetSubjectKey(ctx, tagA); !errors.Is(err, keys.ErrNoSubjectKey) {
		t.Fatalf("Get of an absent key: %v, want ErrNoSubjectKey", err)
	}
	if _, err := store.GetSubjectKey(ctx, "../../etc/passwd"); err == nil {
		t.Fatal("Get accepted a tag that is not one")
	}

	// Ten writers race to create one subject's key: exactly one wins and
	// everyone reads the winner's bytes afterwards.
	var wg sync.WaitGroup
	wins := make(chan []byte, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := bytes.Repeat([]byte{byte(i + 1)}, 60)
			err := store.CreateSubjectKey(ctx, tagA, w)
			switch {
			case err == nil:
				wins <- w
			case !errors.Is(err, keys.ErrConflict):
				t.Errorf("Create: %v, want nil or ErrConflict", err)
			}
		}(i)
	}
	wg.Wait()
	close(wins)
	var winner []byte
	for w := range wins {
		if winner != nil {
			t.Fatal("two writers created the same subject key")
		}
		winner = w
	}
	if winner == nil {
		t.Fatal("no writer created the subject key")
	}
	got, err := store.GetSubjectKey(ctx, tagA)
	if err != nil || !bytes.Equal(got, winner) {
		t.Fatalf("Get after create = %x, %v; want the winner's key", got, err)
	}

	if out, err := store.ShredSubjectKey(ctx, tagA); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("Shred = %v, %v; want destroyed", out, err)
	}
	if _, err := store.GetSubjectKey(ctx, tagA); !errors.Is(err, keys.ErrShredded) {
		t.Fatalf("Get after shred: %v, want ErrShredded", err)
	}
	if out, err := store.ShredSubjectKey(ctx, tagA); err != nil || out != keys.ShredAlready {
		t.Fatalf("second Shred = %v, %v; want already_shredded", out, err)
	}
	if err := store.CreateSubjectKey(ctx, tagA, winner); !errors.Is(err, keys.ErrConflict) {
		t.Fatalf("Create after shred: %v, want ErrConflict (the tombstone stays)", err)
	}

	// Shredding a subject that never had a key leaves a tombstone too.
	if out, err := store.ShredSubjectKey(ctx, tagB); err != nil || out != keys.ShredNoKey {
		t.Fatalf("Shred of an absent key = %v, %v; want no_key", out, err)
	}
	if _, err := store.GetSubjectKey(ctx, tagB); !errors.Is(err, keys.ErrShredded) {
		t.Fatalf("Get after shredding an absent key: %v, want ErrShredded", err)
	}

	// Other subjects are untouched.
	if err := store.CreateSubjectKey(ctx, tagC, []byte("wrapped-c")); err != nil {
		t.Fatal(err)
	}
	if got, err := store.GetSubjectKey(ctx, tagC); err != nil || string(got) != "wrapped-c" {
		t.Fatalf("Get of another subject = %q, %v", got, err)
	}
}
