package guard

import (
	"testing"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// TestLikeEscape: phiguard's like_escape gives PostgreSQL's patterns
// (like_match.c, do_like_escape), with \ as the escape after it.
func TestLikeEscape(t *testing.T) {
	for _, c := range []struct{ pattern, escape, want string }{
		{`a!%b`, `!`, `a\%b`},
		{`a\b`, `!`, `a\\b`},
		{`a!\b`, `!`, `a\\b`}, // an escaped backslash is one
		{`a!!b`, `!`, `a\!b`},
		{`ü%ü_`, `ü`, `\%\_`}, // a multibyte escape
		{`a\%`, `\`, `a\%`},
		{`a\%`, ``, `a\\%`}, // no escape: every backslash literal
		{`!`, `!`, `\`},     // ends in its escape: the match fails with 22025
	} {
		got, pe := likeEscape([]byte(c.pattern), []byte(c.escape))
		if pe != nil || string(got) != c.want {
			t.Errorf("like_escape(%q, %q) = %q (%v), want %q", c.pattern, c.escape, got, pe, c.want)
		}
	}
	if _, pe := likeEscape([]byte("a"), []byte("!!")); pe == nil || pe.Code != pgerr.InvalidEscapeSequence {
		t.Errorf("an escape of two characters: %v, want 22025", pe)
	}
}

// TestLiteralNumberType: PostgreSQL types a number literal int4, int8
// or numeric (make_const; -2147483648 is an int8 there).
func TestLiteralNumberType(t *testing.T) {
	for _, c := range []struct {
		text string
		neg  bool
		want uint32
	}{
		{"5", false, policy.OIDInt4}, {"2147483647", false, policy.OIDInt4}, {"2147483648", false, policy.OIDInt8},
		{"2147483648", true, policy.OIDInt8}, {"9223372036854775808", false, policy.OIDNumeric},
		{"9223372036854775808", true, policy.OIDInt8}, {"2.5", false, policy.OIDNumeric}, {"1e3", false, policy.OIDNumeric},
	} {
		if got := literalNumberType([]byte(c.text), c.neg); got != c.want {
			t.Errorf("%q (negative %v): %d, want %d", c.text, c.neg, got, c.want)
		}
	}
	if string(negated([]byte("-2.5"))) != "2.5" || string(negated([]byte("7"))) != "-7" {
		t.Error("negated does not turn the sign")
	}
}
