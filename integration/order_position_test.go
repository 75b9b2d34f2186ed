package integration

import (
	"testing"
)

// TestOrderByPositionOverStar: SELECT * ... ORDER BY n on a table with
// encrypted columns. The database sorts by position n; when that position
// is a plaintext column the answer is PostgreSQL's, and when it is an
// encrypted one (which the database would sort as ciphertext) the result
// is refused, 0A000, naming the column. Both protocols.
func TestOrderByPositionOverStar(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "opos",
		twinColumn{"id", "int", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: opos-k, type: text}"},
		twinColumn{"note", "text", ""})
	for _, mode := range bothModes {
		tw.clear(t)
		tw.exec(t, "INSERT INTO %s VALUES (2, 'b', 'y'), (1, 'c', 'z'), (3, 'a', 'x')", mode)
		tw.same(t, "SELECT * FROM %s ORDER BY 1", mode, "ORDER BY the plaintext first column")
		tw.same(t, "SELECT * FROM %s ORDER BY 3 DESC", mode, "ORDER BY the plaintext third column")
		_, err := rt4Rows(tw.via, "SELECT * FROM "+tw.enc+" ORDER BY 2", mode)
		if rt4Code(err) != "0A000" {
			t.Fatalf("%v: ORDER BY the encrypted second column: %v, want 0A000", mode, err)
		}
		tw.same(t, "SELECT * FROM %s ORDER BY id", mode, "the session goes on")
	}
}
