package cellcipher_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcollate"
)

// FuzzMatchTokens: for any text and any window of it, M holds the token
// of every trigram of the window's lowered text and the anchored tokens
// of the first 1-3 lowered code points (what a LIKE pattern's runs look up,
// so a value matching a pattern is always a candidate); M is sorted,
// without repeats, of at most n-2+3 tokens; X is M's 3-code-point prefix
// token, or for a shorter value no token of M.
func FuzzMatchTokens(f *testing.F) {
	tm := termKeys(f)
	en := openLocale(f, "en_US.utf8")
	col := termColumn(f, "text")
	f.Add("Gleason123", 2, 5, true)
	f.Add("ÉCOLE straße", 0, 12, true)
	f.Add("ab", 0, 2, false)
	f.Add("", 0, 0, false)
	f.Fuzz(func(t *testing.T, v string, from, to int, libc bool) {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return
		}
		loc := map[bool]*pgcollate.Locale{true: en}[libc]
		n, err := cellcipher.MatchInput(col, loc, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		m := cellcipher.MatchTokens(tm, n)
		cps := []rune(string(n))
		if !slices.IsSorted(m) || len(slices.Compact(slices.Clone(m))) != len(m) || len(m) > max(0, len(cps)-2)+min(3, len(cps)) {
			t.Fatalf("M(%q) = %v", n, m)
		}
		has := func(tok string) bool { _, ok := slices.BinarySearch(m, tok); return ok }
		from, to = clamp(from, len(cps)), clamp(to, len(cps))
		for i := from; i+3 <= to; i++ {
			if !has(tm.Token([]byte(string(cps[i : i+3])))) {
				t.Fatalf("M(%q) lacks the trigram %q", n, string(cps[i:i+3]))
			}
		}
		for k := 1; k <= min(3, len(cps)); k++ {
			if !has(cellcipher.AnchoredToken(tm, string(cps[:k]))) {
				t.Fatalf("M(%q) lacks the prefix %q", n, string(cps[:k]))
			}
		}
		if x := cellcipher.PrefixToken(tm, n); has(x) != (len(cps) >= 3) {
			t.Fatalf("X(%q) in M: %v", n, has(x))
		}
	})
}

func clamp(i, n int) int {
	if i < 0 {
		i = -i
	}
	if n == 0 {
		return 0
	}
	return i % (n + 1)
}

// FuzzOrderInput: for any two texts, under en_US.utf8 (as PostgreSQL
// compares them: strcoll_l, then bytes) and under C, s_P and O never order
// them against the collation, and equal texts get equal terms.
func FuzzOrderInput(f *testing.F) {
	tm := termKeys(f)
	en := openLocale(f, "en_US.utf8")
	col := termColumn(f, "text")
	f.Add("1è", "1-É")
	f.Add("Abernathy-Zimmermann a", "Abernathy-Zimmermann B")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) || strings.IndexByte(a+b, 0) >= 0 {
			return
		}
		for _, loc := range []*pgcollate.Locale{nil, en} {
			want := strings.Compare(a, b)
			if loc != nil {
				want = loc.Compare([]byte(a), []byte(b))
			}
			sa, _ := cellcipher.OrderInput(col, loc, []byte(a))
			sb, _ := cellcipher.OrderInput(col, loc, []byte(b))
			oa, _ := tm.Ord(sa)
			ob, _ := tm.Ord(sb)
			for _, got := range []int{bytes.Compare(sa, sb), bytes.Compare(oa, ob)} {
				if got*want < 0 || want == 0 && got != 0 {
					t.Fatalf("%q vs %q (locale %v): collation %d, terms %d", a, b, loc != nil, want, got)
				}
			}
		}
	})
}
