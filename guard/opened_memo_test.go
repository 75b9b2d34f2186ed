package guard

import (
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// TestOpenedMemo: the memo of the last opened cell answers only within a
// held row, for the same column and the same bytes, and keeps its own
// copy of the plaintext (the decryption's scratch buffer is reused).
func TestOpenedMemo(t *testing.T) {
	a, b := &policy.ProtectedColumn{Name: "a"}, &policy.ProtectedColumn{Name: "b"}
	var m openedMemo
	cell, plain := []byte("cell-1"), []byte("Smith")
	m.note(a, cell, plain)
	if _, ok := m.recall(a, cell); ok {
		t.Fatal("the memo answered outside a held row")
	}
	off := m.within()
	m.note(a, cell, plain)
	plain[0] = 'X' // the scratch buffer, reused
	if got, ok := m.recall(a, []byte("cell-1")); !ok || string(got) != "Smith" {
		t.Fatalf("recall of the same bytes: %q, %v", got, ok)
	}
	if _, ok := m.recall(b, cell); ok {
		t.Fatal("the memo answered for another column")
	}
	if _, ok := m.recall(a, []byte("cell-2")); ok {
		t.Fatal("the memo answered for other bytes")
	}
	off()
	if _, ok := m.recall(a, cell); ok {
		t.Fatal("the memo answered after its row")
	}
	m.within()
	if _, ok := m.recall(a, cell); ok {
		t.Fatal("a new row recalled the last row's cell")
	}
}
