package cellcipher_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// vectorKeyring holds key patients-pii, versions 1 and 2, with fixed
// bytes (0x00..0x1f and 0x20..0x3f), so that terms have fixed vectors.
func vectorKeyring(t testing.TB) *keys.Keyring {
	t.Helper()
	var dks []keys.DataKey
	for v := uint32(1); v <= 2; v++ {
		root := make([]byte, keys.DataKeySize)
		for i := range root {
			root[i] = byte(int(v-1)*32 + i)
		}
		dks = append(dks, keys.DataKey{ID: "patients-pii", Version: v, Created: time.Unix(0, 0), Key: keys.NewSecret(root)})
	}
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func termKeys(t testing.TB) *keys.Terms {
	t.Helper()
	tm, err := vectorKeyring(t).Terms("patients-pii", 1, keys.Column{Schema: "public", Table: "patients", Name: "v"})
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// sharedKeyColumns are five text columns under one randomized key, as the
// demo's patients-pii serves first, last, maiden, address and city.
func sharedKeyColumns(t testing.TB) []*policy.ProtectedColumn {
	var cols []*policy.ProtectedColumn
	for _, name := range []string{"first", "last", "maiden", "address", "city"} {
		c := termColumn(t, "text")
		c.Name = name
		cols = append(cols, c)
	}
	return cols
}

// columnTerms are one value's terms in one column: E, O, X and M, each
// with the text it was computed from (token text for X and M).
type columnTerms struct {
	e, o string
	toks map[string]string // token -> its lowered text
}

func termsOf(t testing.TB, tm *keys.Terms, col *policy.ProtectedColumn, v string) columnTerms {
	t.Helper()
	q, err := cellcipher.EqualityInput(col, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cellcipher.OrderInput(col, nil, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	o, err := tm.Ord(s)
	if err != nil {
		t.Fatal(err)
	}
	n, err := cellcipher.MatchInput(col, nil, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	ct := columnTerms{e: string(tm.Eq(q)), o: string(o), toks: map[string]string{}}
	cps := []rune(string(n))
	for i := 0; i+3 <= len(cps); i++ {
		ct.toks[tm.Token([]byte(string(cps[i:i+3])))] = string(cps[i : i+3])
	}
	for k := 1; k <= min(3, len(cps)); k++ {
		ct.toks[cellcipher.AnchoredToken(tm, string(cps[:k]))] = "^" + string(cps[:k])
	}
	if len(cps) < 3 { // X of a short value is its own token
		ct.toks[cellcipher.PrefixToken(tm, n)] = string(n) + "$"
	}
	return ct
}

// TestNoTermSharedAcrossColumns: 10,000 distinct values in 5 columns under
// one shared key: no equality or order term of one column equals any term
// of another, and no token of a text (trigram, prefix, X) in one column
// equals that text's token in another. (Tokens are 32 bits, so two
// different texts may share one by chance; that only adds a candidate,
// and the count is logged.) Under version 2 of the key, no term equals
// version 1's. Two columns sharing a deterministic key, the design's one
// exemption (§4.7), do share their terms.
func TestNoTermSharedAcrossColumns(t *testing.T) {
	kr := vectorKeyring(t)
	r := rand.New(rand.NewPCG(5, 6))
	seen := map[string]bool{}
	var vals []string
	for len(vals) < 10000 {
		v := textGen(r) + strconv.Itoa(r.IntN(1000))
		if !seen[v] {
			seen[v] = true
			vals = append(vals, v)
		}
	}
	type owner struct {
		where string
		text  string
	}
	whole := map[string]owner{} // E and O of every column and version
	tokens := map[string]owner{}
	chance := 0
	for _, version := range []uint32{1, 2} {
		for _, col := range sharedKeyColumns(t) {
			tm, err := cellcipher.TermKeys(kr, col, version)
			if err != nil {
				t.Fatal(err)
			}
			where := fmt.Sprintf("%s v%d", col.Name, version)
			for _, v := range vals {
				ct := termsOf(t, tm, col, v)
				for kind, term := range map[string]string{"E": ct.e, "O": ct.o} {
					prev, dup := whole[kind+term]
					// Within a column, values tying on s_P share O.
					if dup && (prev.where != where || kind == "E") {
						t.Fatalf("%s of %q in %s equals %s's of %q", kind, v, where, prev.where, prev.text)
					}
					whole[kind+term] = owner{where, v}
				}
				for tok, text := range ct.toks {
					prev, dup := tokens[tok]
					switch {
					case !dup:
						tokens[tok] = owner{where, text}
					case prev.where == where:
					case prev.text == text:
						t.Fatalf("the token of %q is the same in %s and %s", text, where, prev.where)
					default:
						chance++
					}
				}
			}
		}
	}
	t.Logf("%d E and O terms, all distinct; %d distinct tokens, %d shared by chance between different texts of different columns", len(whole), len(tokens), chance)

	// The deterministic exemption: one key, one domain, one set of terms.
	a, b := termColumn(t, "text"), termColumn(t, "text")
	a.Mode, b.Mode, a.Key, b.Key = policy.ModeDeterministic, policy.ModeDeterministic, "patients-pii", "patients-pii"
	a.Name, b.Name = "code", "other_code"
	ta, _ := cellcipher.TermKeys(kr, a, 1)
	tb, _ := cellcipher.TermKeys(kr, b, 1)
	if ga, gb := termsOf(t, ta, a, "J45.909"), termsOf(t, tb, b, "J45.909"); ga.e != gb.e || ga.o != gb.o {
		t.Fatal("two columns sharing a deterministic key have different terms for one value")
	}
}

// TestTermInputVectors pins q, s_P (hex), n, M and X for fixed values
// under the vector keyring's version 1 and column public.patients.v: the
// inputs every stored term is computed from.
func TestTermInputVectors(t *testing.T) {
	tm := termKeys(t)
	en := openLocale(t, "en_US.utf8")
	for _, c := range []struct {
		typ, canon string
		loc        *pgcollate.Locale
		q, s       string
		n          string
		m          string // M, joined by '.'
		x          string
	}{
		{typ: "text", canon: "Gleason123", q: "476c6561736f6e313233", s: "476c6561736f6e313233000000000000", n: "gleason123",
			// 8 trigrams and 3 anchored prefixes; X is the prefix gle
			m: "9OnlhA.Nf0lGg.S57dyw.SIlJqQ.T2LK-A.W2AT4g.Ysy9yw.f0HCwA.fDbXqQ.gvhNHA.q3W6Qg", x: "SIlJqQ"},
		{typ: "text", canon: "Gleason123", loc: en, q: "476c6561736f6e313233", s: "c29ec3907e51c589c3bdc3ae48494a00", n: "gleason123"},
		{typ: "text", canon: "O'Brien", loc: en, q: "4f27427269656e", s: "c3bd5ec4acc2b57ec3ae000000000000", n: "o'brien"},
		{typ: "char(4)", canon: "Ab  ", q: "4162", s: "41620000000000000000000000000000", n: "ab  ",
			// "ab ", "b  ", ^a, ^ab, ^ab␠: LIKE sees char(n)'s padding
			m: "0PdbQw.8W9VWQ.FfDvzg.XUZcLw._FKewg", x: "_FKewg"},
		{typ: "text", canon: "Ab", q: "4162", s: "41620000000000000000000000000000", n: "ab", m: "0PdbQw.XUZcLw", x: "QbVFSQ"},
		{typ: "date", canon: "1980-02-29", q: "7fffe3b2", s: "7fffe3b2"}, // -7246 days, sign flipped
		{typ: "date", canon: "2000-01-01", q: "80000000", s: "80000000"},
		{typ: "numeric", canon: "-12.50", q: "407ffffef2ccff", s: "407ffffef2ccff000000000000000000"},
		{typ: "bigint", canon: "42", q: "800000000000002a", s: "800000000000002a"},
	} {
		col := termColumn(t, c.typ)
		q, err := cellcipher.EqualityInput(col, []byte(c.canon))
		if err != nil {
			t.Fatal(err)
		}
		s, err := cellcipher.OrderInput(col, c.loc, []byte(c.canon))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(q) != c.q || hex.EncodeToString(s) != c.s {
			t.Errorf("%s %q: q %x s_P %x, want %s %s", c.typ, c.canon, q, s, c.q, c.s)
		}
		if c.n == "" {
			continue
		}
		n, err := cellcipher.MatchInput(col, c.loc, []byte(c.canon))
		if err != nil || string(n) != c.n {
			t.Errorf("%s %q: n %q, %v; want %q", c.typ, c.canon, n, err, c.n)
		}
		if c.m == "" {
			continue
		}
		if m := strings.Join(cellcipher.MatchTokens(tm, n), "."); m != c.m {
			t.Errorf("%s %q: M %s, want %s", c.typ, c.canon, m, c.m)
		}
		if x := cellcipher.PrefixToken(tm, n); x != c.x {
			t.Errorf("%s %q: X %s, want %s", c.typ, c.canon, x, c.x)
		}
	}
}

// BenchmarkTextTerms is every term of one 10-character name under
// en_US.utf8 (q, s_P, n; E, O, M, X): a write's cost per text column with
// [equality, order, match].
func BenchmarkTextTerms(b *testing.B) {
	tm := termKeys(b)
	loc := openLocale(b, "en_US.utf8")
	col := termColumn(b, "text")
	v := []byte("Gleason123")
	for b.Loop() {
		q, _ := cellcipher.EqualityInput(col, v)
		s, _ := cellcipher.OrderInput(col, loc, v)
		n, _ := cellcipher.MatchInput(col, loc, v)
		_ = tm.Eq(q)
		if _, err := tm.Ord(s); err != nil {
			b.Fatal(err)
		}
		_ = cellcipher.MatchTokens(tm, n)
		_ = cellcipher.PrefixToken(tm, n)
	}
}

// TestTermInputsRefuse: the types §3 gives no term get ErrNoTerm, naming
// the column and never the value; match is for text types only; invalid
// UTF-8 has no match input.
func TestTermInputsRefuse(t *testing.T) {
	for _, typ := range []string{"real", "double precision", "timetz", "json", "jsonb", "integer[]", "text[]"} {
		col := termColumn(t, typ)
		_, errQ := cellcipher.EqualityInput(col, []byte("1"))
		_, errS := cellcipher.OrderInput(col, nil, []byte("1"))
		_, errN := cellcipher.MatchInput(col, nil, []byte("1"))
		for _, err := range []error{errQ, errS, errN} {
			if !errors.Is(err, cellcipher.ErrNoTerm) || !strings.Contains(err.Error(), "public.patients.v") {
				t.Errorf("%s: %v", typ, err)
			}
		}
	}
	for _, typ := range []string{"integer", "date", "numeric", "uuid", "bytea", "boolean"} {
		if _, err := cellcipher.MatchInput(termColumn(t, typ), nil, []byte("1")); !errors.Is(err, cellcipher.ErrNoTerm) {
			t.Errorf("match on %s: %v", typ, err)
		}
	}
	if _, err := cellcipher.MatchInput(termColumn(t, "text"), nil, []byte("Gle\xffason")); err == nil || strings.Contains(err.Error(), "Gle") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if _, err := cellcipher.OrderInput(termColumn(t, "integer"), nil, []byte("4000000000")); err == nil || strings.Contains(err.Error(), "4000000000") {
		t.Errorf("integer out of range: %v", err)
	}
}

// TestTermErrorsNameNoValue: a malformed value of each type fails its
// sort key without the value in the message.
func TestTermErrorsNameNoValue(t *testing.T) {
	for _, typ := range []string{"boolean", "smallint", "numeric", "date", "timestamp", "interval", "uuid", "bytea", "time"} {
		bad := "SECRET-42x"
		if typ == "bytea" {
			bad = `\xSECRET` // "SECRET-42x" is bytea's escape format
		}
		_, err := cellcipher.OrderInput(termColumn(t, typ), nil, []byte(bad))
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v", typ, err)
		}
	}
}
