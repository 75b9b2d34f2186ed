package keys

import (
	"context"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/internal/race"
)

func TestSealedForBindsACellToItsSubject(t *testing.T) {
	ctx := context.Background()
	sk, err := NewSubjectKeys(subjectKeyring(t), &memStore{m: map[string][]byte{}}, SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	col := Column{Schema: "public", Table: "patients", Name: "first"}
	const a, b = "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3302"
	cellA, err := sk.Encrypt(ctx, a, col, []byte("Alice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{a, strings.ToUpper(a), " " + a + " "} {
		if !sk.SealedFor(cellA, []byte(spelling)) {
			t.Errorf("A's cell is not sealed for A spelled %q", spelling)
		}
	}
	if sk.SealedFor(cellA, []byte(b)) || sk.SealedFor(cellA, nil) || sk.SealedFor(cellA, []byte("")) {
		t.Error("A's cell reads as sealed for B (or for no subject)")
	}
	// Ids are compared as CanonicalSubject does: exactly, beyond UUIDs.
	cell42, _ := sk.Encrypt(ctx, "42", col, []byte("x"))
	if !sk.SealedFor(cell42, []byte("42")) || sk.SealedFor(cell42, []byte("042")) {
		t.Error("numeric subject ids compared wrongly")
	}
	long := strings.Repeat("z", 300)
	cellLong, _ := sk.Encrypt(ctx, long, col, []byte("x"))
	if !sk.SealedFor(cellLong, []byte(long)) || sk.SealedFor(cellLong, []byte(long[1:])) {
		t.Error("long subject ids compared wrongly")
	}
	// Not a subject cell: never sealed for anyone.
	kr := mustKeyring(t, "k", 1)
	colCell, _ := kr.Encrypt("k", Randomized, col, []byte("Alice"))
	for _, v := range [][]byte{colCell, []byte("Alice"), cellA[:40], []byte(Prefix)} {
		if sk.SealedFor(v, []byte(a)) {
			t.Errorf("%q reads as sealed for a subject", v)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { sk.SealedFor(cellA, []byte(b)) }); allocs != 0 && !race.Enabled {
		t.Errorf("SealedFor allocates %.0f times per call", allocs)
	}
}
