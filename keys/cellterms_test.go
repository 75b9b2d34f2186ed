package keys

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// sampleTerms are terms of every section, in the layout's sizes; their
// bytes are made up (keys does not check that terms fit the value).
func sampleTerms(t testing.TB) CellTerms {
	t.Helper()
	tr := mustTerms(t)
	ord, err := tr.Ord(bytes.Repeat([]byte{'a'}, 16))
	if err != nil {
		t.Fatal(err)
	}
	m := []string{tr.Token([]byte("abc")), tr.Token([]byte("bcd")), tr.Token([]byte("\x00a"))}
	sortStrings(m)
	return CellTerms{Version: 7, Eq: tr.Eq([]byte("q")), Ord: ord, Prefix: tr.Token([]byte("\x00abc")), Match: m}
}

func mustTerms(t testing.TB) *Terms {
	t.Helper()
	tr, err := mustKeyring(t, "pii", 1).Terms("pii", 1, colName)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// TestTermsCellDecryptsAsFormat1: a cell with terms decrypts, in every
// mode, to what the same cell without them does, through Decrypt and
// DecryptInto; Inspect reads its header and term version; TermsOf gives
// the terms back; the terms are not authenticated (a changed term still
// opens) and B is (a changed B does not).
func TestTermsCellDecryptsAsFormat1(t *testing.T) {
	kr := mustKeyring(t, "pii", 2)
	ts := sampleTerms(t)
	for _, m := range modes {
		for _, terms := range []CellTerms{ts, {Version: 1}, {Version: 4294967295, Ord: ts.Ord[:4]}} {
			v1, err := kr.Encrypt("pii", m, colSSN, []byte("999-12-3456"))
			if err != nil {
				t.Fatal(err)
			}
			v2, err := WithTerms(v1, terms)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(v2), TermsPrefix) || !bytes.HasSuffix(v2, v1[len(Prefix):]) || strings.Count(string(v2), "~") != 7 {
				t.Fatalf("%s: layout: %s", m, v2)
			}
			pt, err := kr.Decrypt(colSSN, v2)
			if err != nil || string(pt) != "999-12-3456" {
				t.Fatalf("%s: Decrypt = %q, %v", m, pt, err)
			}
			var s Scratch
			into, err := kr.DecryptInto(&s, []byte("x"), colSSN, v2)
			if err != nil || string(into) != "x999-12-3456" {
				t.Fatalf("%s: DecryptInto = %q, %v", m, into, err)
			}
			info, err := Inspect(v2)
			want := CellInfo{Mode: m, KeyID: "pii", KeyVersion: 2, TermVersion: terms.Version}
			if err != nil || info != want {
				t.Fatalf("%s: Inspect = %+v, %v; want %+v", m, info, err, want)
			}
			if info1, _ := Inspect(v1); info1.TermVersion != 0 {
				t.Fatalf("format 1 has term version %d", info1.TermVersion)
			}
			got, ok, err := TermsOf(v2)
			if err != nil || !ok || !equalTerms(got, terms) {
				t.Fatalf("%s: TermsOf = %+v %v %v, want %+v", m, got, ok, err, terms)
			}
			if _, ok, err := TermsOf(v1); ok || err != nil {
				t.Fatalf("TermsOf(format 1) = %v, %v", ok, err)
			}
			if !IsCell(v2) || !ContainsCell(v2) || IsSubjectCell(v2) {
				t.Fatalf("%s: IsCell %v ContainsCell %v IsSubjectCell %v", m, IsCell(v2), ContainsCell(v2), IsSubjectCell(v2))
			}
		}
	}
}

func equalTerms(a, b CellTerms) bool {
	return a.Version == b.Version && bytes.Equal(a.Eq, b.Eq) && bytes.Equal(a.Ord, b.Ord) &&
		a.Prefix == b.Prefix && strings.Join(a.Match, ".") == strings.Join(b.Match, ".")
}

func TestTermsAreNotAuthenticatedButBIs(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	ts := sampleTerms(t)
	v1, _ := kr.Encrypt("pii", Randomized, colSSN, []byte("Gleason123"))
	v2, err := WithTerms(v1, ts)
	if err != nil {
		t.Fatal(err)
	}
	other := ts
	other.Eq = bytes.Repeat([]byte{0xff}, EqTermSize)
	other.Version = 9
	re, err := WithTerms(v2, other) // replaces the terms of a format-2 cell
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(re, v1[len(Prefix):]) || bytes.Equal(re, v2) {
		t.Fatalf("WithTerms on format 2 did not keep B or did not change the terms: %s", re)
	}
	if pt, err := kr.Decrypt(colSSN, re); err != nil || string(pt) != "Gleason123" {
		t.Fatalf("changed terms: %q, %v", pt, err)
	}
	bad := bytes.Clone(v2)
	i := len(bad) - 10 // inside the tag; not the last character, whose low bits must stay zero
	if bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	if _, err := kr.Decrypt(colSSN, bad); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("changed B: %v", err)
	}
	if _, err := kr.Decrypt(colName, v2); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("moved to another column: %v", err)
	}
}

// TestSubjectTermsCell: a cell sealed under a subject key keeps working
// with terms: IsSubjectCell, SealedFor and SubjectKeys.Decrypt read its B.
func TestSubjectTermsCell(t *testing.T) {
	ctx := context.Background()
	sk, err := NewSubjectKeys(subjectKeyring(t), &memStore{m: map[string][]byte{}}, SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := sk.Encrypt(ctx, "patient-1", colName, []byte("Gleason"))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := WithTerms(v1, sampleTerms(t))
	if err != nil {
		t.Fatal(err)
	}
	if !IsSubjectCell(v2) || !IsCell(v2) || !ContainsCell(v2) {
		t.Fatalf("IsSubjectCell %v IsCell %v ContainsCell %v", IsSubjectCell(v2), IsCell(v2), ContainsCell(v2))
	}
	if !sk.SealedFor(v2, []byte("patient-1")) || sk.SealedFor(v2, []byte("patient-2")) {
		t.Fatal("SealedFor does not read a format-2 cell's subject")
	}
	if pt, err := sk.Decrypt(ctx, colName, v2); err != nil || string(pt) != "Gleason" {
		t.Fatalf("SubjectKeys.Decrypt = %q, %v", pt, err)
	}
	if _, _, err := sk.Shred(ctx, "patient-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sk.Decrypt(ctx, colName, v2); !errors.Is(err, ErrShredded) {
		t.Fatalf("after shred: %v", err)
	}
}

// TestContainsTermsCell: a format-2 cell inside a row's or an array's
// text is found; one whose B is not a cell is not; nor is one whose terms
// are malformed but whose B is a cell missed (the check refuses
// ciphertext).
func TestContainsTermsCell(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	v1, _ := kr.Encrypt("pii", Randomized, colSSN, []byte("x"))
	v2, _ := WithTerms(v1, sampleTerms(t))
	b := string(v1[len(Prefix):])
	for _, s := range []string{
		"(1," + string(v2) + ")",
		`{"` + string(v2) + `","b"}`,
		"abc" + string(v2) + "~~more",
		"~phs~0~~~~~" + b,     // tv 0: not IsCell, but B is ciphertext
		"~phs~1~AAAA~~~~" + b, // E of 3 bytes
	} {
		if !ContainsCell([]byte(s)) || !HasCellPrefix([]byte(s)) {
			t.Errorf("ContainsCell(%.60q) = false", s)
		}
	}
	for _, s := range []string{
		"~phs~1~~~~~", "~phs~1~~~~~abc", "~phs~1~~~~" + b, "~phs~" + b, "about ~phs~ cells", "~phs~1~~~~~~" + b,
	} {
		if ContainsCell([]byte(s)) {
			t.Errorf("ContainsCell(%.60q) = true", s)
		}
	}
}

// TestMalformedTermsCells: every way of breaking the layout is ErrNotACell
// (so a column fully encrypted refuses the value as plaintext, and one
// encrypting passes it on as legacy text, as for a broken format-1 cell).
func TestMalformedTermsCells(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	v1, _ := kr.Encrypt("pii", Randomized, colSSN, []byte("x"))
	b := string(v1[len(Prefix):])
	ts := sampleTerms(t)
	good, _ := WithTerms(v1, ts)
	s, _ := termSections(good)
	e, o, x, m := string(s[1]), string(s[2]), string(s[3]), string(s[4])
	cell := func(tv, e, o, x, m, b string) string { return "~phs~" + strings.Join([]string{tv, e, o, x, m, b}, "~") }
	if !IsCell([]byte(cell("7", e, o, x, m, b))) {
		t.Fatal("the reassembled cell does not parse")
	}
	toks := strings.Split(m, ".")
	cases := map[string]string{
		"tv empty":             cell("", e, o, x, m, b),
		"tv 0":                 cell("0", e, o, x, m, b),
		"tv leading zero":      cell("07", e, o, x, m, b),
		"tv sign":              cell("+7", e, o, x, m, b),
		"tv over uint32":       cell("4294967296", e, o, x, m, b),
		"tv 11 digits":         cell("10000000000", e, o, x, m, b),
		"E unpadded":           cell("7", strings.TrimRight(e, "="), o, x, m, b),
		"E 9 bytes":            cell("7", "AAAAAAAAAAAA", o, x, m, b),
		"E non-canonical":      cell("7", e[:10]+"B=", o, x, m, b),
		"E base64url":          cell("7", "____________", o, x, m, b),
		"E newline":            cell("7", e[:4]+"\n"+e[4:], o, x, m, b),
		"O 3 bytes":            cell("7", e, "AAAA", x, m, b),
		"O 33 bytes":           cell("7", e, o+"AAAA", x, m, b),
		"X 5 chars":            cell("7", e, o, x[:5], m, b),
		"X std alphabet":       cell("7", e, o, "AAAA+/", m, b),
		"M unsorted":           cell("7", e, o, x, toks[1]+"."+toks[0], b),
		"M duplicate":          cell("7", e, o, x, toks[0]+"."+toks[0], b),
		"M trailing dot":       cell("7", e, o, x, m+".", b),
		"M empty token":        cell("7", e, o, x, toks[0]+".."+toks[1], b),
		"M other separator":    cell("7", e, o, x, toks[0]+","+toks[1], b),
		"M short token":        cell("7", e, o, x, toks[0][:5], b),
		"B empty":              cell("7", e, o, x, m, ""),
		"B with prefix":        cell("7", e, o, x, m, string(v1)),
		"B not a cell":         cell("7", e, o, x, m, "AQEDcGlp"),
		"five sections":        "~phs~7~" + e + "~" + o + "~" + x + "~" + b,
		"seven sections":       cell("7", e, o, x, m, "~"+b),
		"prefix only":          "~phs~",
		"upper-case prefix":    "~PHS~" + strings.TrimPrefix(cell("7", e, o, x, m, b), "~phs~"),
		"format 1 with terms":  "~phg~7~" + e + "~" + o + "~" + x + "~" + m + "~" + b,
		"space before B":       cell("7", e, o, x, m, " "+b),
		"trailing newline (B)": cell("7", e, o, x, m, b+"\n"),
	}
	for name, v := range cases {
		if IsCell([]byte(v)) {
			t.Errorf("%s: IsCell", name)
		}
		if _, err := kr.Decrypt(colSSN, []byte(v)); !errors.Is(err, ErrNotACell) {
			t.Errorf("%s: Decrypt error %v, want ErrNotACell", name, err)
		}
		if _, _, err := TermsOf([]byte(v)); !errors.Is(err, ErrNotACell) {
			t.Errorf("%s: TermsOf error %v", name, err)
		}
		if _, err := Inspect([]byte(v)); !errors.Is(err, ErrNotACell) {
			t.Errorf("%s: Inspect error %v", name, err)
		}
	}
}

func TestWithTermsRefusesBadTerms(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	v1, _ := kr.Encrypt("pii", Randomized, colSSN, []byte("x"))
	ts := sampleTerms(t)
	for name, mod := range map[string]func(*CellTerms){
		"version 0":    func(c *CellTerms) { c.Version = 0 },
		"eq 7 bytes":   func(c *CellTerms) { c.Eq = c.Eq[:7] },
		"ord 6 bytes":  func(c *CellTerms) { c.Ord = c.Ord[:6] },
		"prefix long":  func(c *CellTerms) { c.Prefix += "A" },
		"prefix ~":     func(c *CellTerms) { c.Prefix = "AAAA~A" },
		"match order":  func(c *CellTerms) { c.Match = []string{c.Match[1], c.Match[0]} },
		"match repeat": func(c *CellTerms) { c.Match = []string{c.Match[0], c.Match[0]} },
		"match bad":    func(c *CellTerms) { c.Match = []string{"AA.AAA"} },
	} {
		c := ts
		c.Match = append([]string(nil), ts.Match...)
		mod(&c)
		if _, err := WithTerms(v1, c); !errors.Is(err, ErrNotACell) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := WithTerms([]byte("plain"), ts); !errors.Is(err, ErrNotACell) {
		t.Errorf("plaintext: %v", err)
	}
}

// TestDecryptTermsCellAllocs: reading a format-2 cell's terms costs the
// decryption path no allocation beyond format 1's.
func TestDecryptTermsCellAllocs(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	v1, _ := kr.Encrypt("pii", Randomized, colSSN, []byte("999-12-3456"))
	v2, _ := WithTerms(v1, sampleTerms(t))
	var s Scratch
	buf := make([]byte, 0, 64)
	count := func(v []byte) float64 {
		return testing.AllocsPerRun(100, func() {
			if _, err := kr.DecryptInto(&s, buf[:0], colSSN, v); err != nil {
				t.Fatal(err)
			}
		})
	}
	if a1, a2 := count(v1), count(v2); a2 > a1 {
		t.Fatalf("DecryptInto allocates %v times for format 2, %v for format 1", a2, a1)
	}
}

// FuzzTermsCell: no input panics the format-2 parser; IsCell, Inspect,
// TermsOf and Decrypt agree; a parsed cell has one spelling (writing its
// terms back gives the same bytes); ContainsCell finds every cell.
func FuzzTermsCell(f *testing.F) {
	kr := mustKeyring(f, "pii", 1)
	ts := sampleTerms(f)
	for _, m := range modes {
		v1, _ := kr.Encrypt("pii", m, colSSN, []byte("999-12-3456"))
		v2, _ := WithTerms(v1, ts)
		f.Add(v2)
		v2, _ = WithTerms(v1, CellTerms{Version: 1})
		f.Add(v2)
	}
	f.Add([]byte(TermsPrefix))
	f.Add([]byte("~phs~1~~~~~"))
	f.Fuzz(func(t *testing.T, v []byte) {
		_, err := kr.Decrypt(colSSN, v)
		isCell := IsCell(v)
		if isCell != (err == nil || !errors.Is(err, ErrNotACell)) {
			t.Fatalf("IsCell %v disagrees with Decrypt: %v", isCell, err)
		}
		_, errInspect := Inspect(v)
		terms, ok, errTerms := TermsOf(v)
		if (errInspect == nil) != isCell || (errTerms == nil) != isCell {
			t.Fatalf("IsCell %v, Inspect %v, TermsOf %v", isCell, errInspect, errTerms)
		}
		if !isCell {
			return
		}
		if !ContainsCell(v) {
			t.Fatal("ContainsCell misses a cell")
		}
		if ok {
			again, err := WithTerms(v, terms)
			if err != nil || !bytes.Equal(again, v) {
				t.Fatalf("a parsed cell has another spelling: %q, %v", again, err)
			}
		}
	})
}

// BenchmarkDecryptTermsCell opens an 11-byte value from a cell with every
// term (a text column with equality, order and match: ~140 characters of
// terms before B), against the same cell without them.
func BenchmarkDecryptTermsCell(b *testing.B) {
	kr := mustKeyring(b, "pii", 1)
	v1, _ := kr.Encrypt("pii", Randomized, colSSN, []byte("999-12-3456"))
	v2, _ := WithTerms(v1, sampleTerms(b))
	for name, c := range map[string][]byte{"format1": v1, "format2": v2} {
		b.Run(name, func(b *testing.B) {
			var s Scratch
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = kr.DecryptInto(&s, buf[:0], colSSN, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
