package guard

import "testing"

// TestASCIIKeptUnderClientEncodings: text whose ASCII bytes every
// client-only encoding reads as characters of their own passes; text
// where one of them would take a quote or a letter into a multibyte
// character does not.
func TestASCIIKeptUnderClientEncodings(t *testing.T) {
	for _, c := range []struct {
		sql  string
		kept bool
	}{
		{"UPDATE t SET name = 'x' WHERE id = 1", true},
		{"UPDATE t SET name = 'Müller' WHERE id = 1", true}, // C3 BC: one character in each
		{"INSERT INTO t VALUES ('José')", true},             // C3 A9 then the quote
		{"INSERT INTO t VALUES ('ā')", false},               // C4 81: SJIS reads 81 with the quote
		{"INSERT INTO t VALUES ('€')", false},               // E2 82 AC: BIG5 pairs AC with the quote
		{"INSERT INTO t VALUES ('é1')", true},               // GB18030: C3 A9 is two bytes, then the digit
		{"INSERT INTO t VALUES ('x\xc31')", false},          // GB18030: C3 then a digit takes four bytes
		{"SELECT '\xc3", true},                              // a last byte reads nothing after it
	} {
		if got := asciiKeptUnderClientEncodings([]byte(c.sql)); got != c.kept {
			t.Errorf("%q: %v, want %v", c.sql, got, c.kept)
		}
	}
}
