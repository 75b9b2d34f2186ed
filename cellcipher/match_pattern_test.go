package cellcipher_test

import (
	"slices"
	"testing"

	"github.com/phiguard/phiguard/cellcipher"
)

// TestMatchPatternTerms: the design's examples (§4.5), escapes, _ and
// anchors, written as the runs they must look up.
func TestMatchPatternTerms(t *testing.T) {
	tm := termKeys(t)
	tok := func(s string) string { return tm.Token([]byte(s)) }
	anch := func(s string) string { return cellcipher.AnchoredToken(tm, s) }
	for _, c := range []struct {
		pattern   string
		prefixKey bool
		prefix    string
		tokens    []string
	}{
		{"smi%", false, "", []string{anch("smi")}},
		{"smi%", true, anch("smi"), nil},
		{"sm%", true, "", []string{anch("sm")}},
		{"%mit%", true, "", []string{tok("mit")}},
		{"%son1%", true, "", []string{tok("son"), tok("on1")}},
		{"smith%", false, "", []string{anch("smi"), tok("mit"), tok("ith")}},
		{"smith%", true, anch("smi"), []string{tok("mit"), tok("ith")}},
		{"_mith", true, "", []string{tok("mit"), tok("ith")}},
		{"SMI%", true, anch("smi"), nil}, // lowered, as n(v) is
		{"%mi%", true, "", nil},
		{"", true, "", nil},
		{"%", true, "", nil},
		{"a", true, "", []string{anch("a")}},
		{`\%ab%`, true, anch("%ab"), nil}, // an escaped % is a literal
		{`a\_b_cde`, true, anch("a_b"), []string{tok("cde")}},
		{`ab%cd\\e`, true, "", []string{anch("ab"), tok(`cd\`), tok(`d\e`)}},
		{"Çöß%", false, "", []string{anch("Çöß")}}, // C: ASCII lowering only
		{"Çöß%", true, anch("Çöß"), nil},
		{"x%yz%", true, "", []string{anch("x")}},
	} {
		got, err := cellcipher.MatchPatternTerms(tm, nil, []byte(c.pattern), c.prefixKey)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		want := slices.Clone(c.tokens)
		slices.Sort(want)
		if got.Prefix != c.prefix || !slices.Equal(got.Tokens, want) {
			t.Errorf("%q (prefix key %v): got prefix %q tokens %q, want %q %q", c.pattern, c.prefixKey, got.Prefix, got.Tokens, c.prefix, want)
		}
		if got.Empty() != (c.prefix == "" && len(c.tokens) == 0) {
			t.Errorf("%q: Empty() = %v", c.pattern, got.Empty())
		}
	}
	for _, bad := range []string{`abc\`, "ab\xffc"} {
		if _, err := cellcipher.MatchPatternTerms(tm, nil, []byte(bad), true); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestMatchPatternTermsInCells: a value's cell holds the tokens of
// patterns it matches, by construction of M and X (keys vectors aside).
func TestMatchPatternTermsInCells(t *testing.T) {
	tm := termKeys(t)
	col := termColumn(t, "text")
	for _, c := range []struct{ value, pattern string }{
		{"Smithson", "smi%"}, {"Smithson", "%THS%"}, {"Smithson", "_mith%on"}, {"Al", "al"}, {"Alan", "al_n"},
	} {
		n, err := cellcipher.MatchInput(col, nil, []byte(c.value))
		if err != nil {
			t.Fatal(err)
		}
		m, x := cellcipher.MatchTokens(tm, n), cellcipher.PrefixToken(tm, n)
		for _, prefixKey := range []bool{false, true} {
			pt, err := cellcipher.MatchPatternTerms(tm, nil, []byte(c.pattern), prefixKey)
			if err != nil {
				t.Fatal(err)
			}
			if pt.Empty() || !subset(pt.Tokens, m) || pt.Prefix != "" && pt.Prefix != x {
				t.Errorf("%q LIKE %q: pattern terms %+v not in the cell's (M %v, X %s)", c.value, c.pattern, pt, m, x)
			}
		}
	}
}

func subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}
