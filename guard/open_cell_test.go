package guard

import (
	"testing"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
)

// TestOpenCellScratchSubjectCell: openCellScratch tries the column key
// first and sends a subject cell, which does not open so, to the
// subject keys, as the check before each cell did; a column-key cell
// opens at once, and a value that is no cell stays legacy plaintext.
func TestOpenCellScratchSubjectCell(t *testing.T) {
	s, cellA, cellB := bindSession(t)
	first, _ := s.srv.protect.Policy.Column("public", "patients", "first")
	columnCell, err := s.srv.protect.Keyring.Encrypt("k-pii", keys.Randomized, keys.Column{Schema: "public", Table: "patients", Name: "first"}, []byte("Carol"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v     []byte
		want  string
		state cellcipher.State
	}{
		{cellA, "Alice", cellcipher.Opened},
		{columnCell, "Carol", cellcipher.Opened},
		{cellB, "Bob", cellcipher.Opened},
		{[]byte("plain"), "plain", cellcipher.Legacy},
	} {
		if !keys.IsSubjectCell(c.v) != (c.want == "Carol" || c.state == cellcipher.Legacy) {
			t.Fatalf("%s: the fixture's cell is not what the case says", c.want)
		}
		plain, state, pe := s.openCellScratch(first, c.v)
		if pe != nil || state != c.state || string(plain) != c.want {
			t.Fatalf("%s: %q %v %v", c.want, plain, state, pe)
		}
	}
}
