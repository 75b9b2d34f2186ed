package policy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestShortIdentifier: a name within 63 bytes is kept; a longer one is
// cut to 63 bytes on a UTF-8 boundary, and two that share their first 54
// bytes stay distinct.
func TestShortIdentifier(t *testing.T) {
	if got := ShortIdentifier("phiguard_last_cells"); got != "phiguard_last_cells" {
		t.Fatalf("a short name became %q", got)
	}
	long := "phiguard_" + strings.Repeat("é", 40) + "_cells"
	a, b := ShortIdentifier(long), ShortIdentifier(long+"x")
	for _, s := range []string{a, b} {
		if len(s) > 63 || !utf8.ValidString(s) {
			t.Fatalf("%q: %d bytes, valid UTF-8 %v", s, len(s), utf8.ValidString(s))
		}
	}
	if a == b {
		t.Fatalf("two long names became one: %q", a)
	}
}
