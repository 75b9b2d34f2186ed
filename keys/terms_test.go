package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// vectorTerms are the terms of the fixed test vectors: data key bytes
// 0x00..0x1f, key id patients-pii, version 1, column public.patients.last.
func vectorTerms(t testing.TB) *Terms {
	t.Helper()
	kr, err := NewKeyring([]DataKey{{ID: "patients-pii", Version: 1, Created: time.Unix(0, 0), Key: NewSecret(vectorRoot())}})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := kr.Terms("patients-pii", 1, colName)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func vectorRoot() []byte {
	root := make([]byte, DataKeySize)
	for i := range root {
		root[i] = byte(i)
	}
	return root
}

// TestTermVectors pins Eq, Ord and Token for fixed inputs, so a change of
// derivation or construction (which would orphan every stored term) fails
// here. Every vector was also computed independently, in Python (HKDF and
// HMAC from its standard library, AES from the cryptography package,
// §4.4's formula written out); the order vectors are recomputed here by
// refOrd as well.
func TestTermVectors(t *testing.T) {
	tm := vectorTerms(t)
	for _, v := range []struct{ in, eq string }{
		{"", "d645701e6b2f7ee2"},
		{"Gleason123", "a85ebd034c715d13"},
	} {
		if got := hex.EncodeToString(tm.Eq([]byte(v.in))); got != v.eq {
			t.Errorf("Eq(%q) = %s, want %s", v.in, got, v.eq)
		}
	}
	for _, v := range []struct{ in, tok string }{
		{"gle", "VwqqxQ"},
		{"^gle", "2Mkxrg"},
		{"^a$", "tU3VgQ"},
	} {
		if got := tm.Token([]byte(v.in)); got != v.tok {
			t.Errorf("Token(%q) = %s, want %s", v.in, got, v.tok)
		}
	}
	for _, v := range []struct{ in, ord string }{
		{"00", "0057"},
		{"ff", "825b"},
		{"00000000000000000000000000000000", "005700ae007700a600b600b100b800b700530071007a00c100e70049005a0032"},
		{"476c6561736f6e31323300000000000000", "22f53646309633c638bf3c613aea19bf175419ad0086000800af00520079000e003e"},
	} {
		in, _ := hex.DecodeString(v.in)
		got, err := tm.Ord(in)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != v.ord {
			t.Errorf("Ord(%s) = %x, want %s", v.in, got, v.ord)
		}
		if ref := refOrd(t, tm, in); !bytes.Equal(ref, got) {
			t.Errorf("Ord(%s) = %x, the design's formula %x", v.in, got, ref)
		}
	}
}

// refOrd is §4.4 of docs/design/search-terms.md spelled out as written,
// one block per keystream byte, with k_0 derived again from the vectors'
// data key: an independent reading of the construction to compare Ord
// with.
func refOrd(t testing.TB, tm *Terms, s []byte) []byte {
	t.Helper()
	key, err := hkdf.Key(sha256.New, vectorRoot(), nil, string(termInfo(termOrd, DataKey{ID: tm.keyID, Version: tm.version}, tm.domain)), 32)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, x := range s {
		blk, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		o := uint32(x)
		for j := 0; j <= int(x); j++ {
			var in, ks [16]byte
			in[0], in[1] = 0x00, byte(j/16)
			blk.Encrypt(ks[:], in[:])
			o += uint32(ks[j%16])
		}
		out = binary.BigEndian.AppendUint16(out, uint16(o))
		var a, b, ia, ib [16]byte
		ia[0], ia[1] = 0x01, x
		ib[0], ib[1] = 0x02, x
		blk.Encrypt(a[:], ia[:])
		blk.Encrypt(b[:], ib[:])
		key = append(a[:], b[:]...)
	}
	return out
}

// TestOrdMonotone: for random inputs of one length (16 bytes, and inputs
// sharing long prefixes), Ord's memcmp order is exactly the inputs' order,
// and a random sample agrees with refOrd.
func TestOrdMonotone(t *testing.T) {
	tm := vectorTerms(t)
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := range n {
		a, b := randInput(r), randInput(r)
		if r.IntN(2) == 0 { // share a prefix, differ later (often by one)
			p := r.IntN(16)
			copy(b[:p], a[:p])
			if r.IntN(2) == 0 {
				b[p] = a[p] + 1
			}
		}
		oa, _ := tm.Ord(a)
		ob, _ := tm.Ord(b)
		if bytes.Compare(oa, ob) != bytes.Compare(a, b) {
			t.Fatalf("Ord(%x) vs Ord(%x): %d, inputs %d", a, b, bytes.Compare(oa, ob), bytes.Compare(a, b))
		}
		if i%500 == 0 && !bytes.Equal(oa, refOrd(t, tm, a)) {
			t.Fatalf("Ord(%x) differs from the design's formula", a)
		}
	}
}

func randInput(r *rand.Rand) []byte {
	b := make([]byte, 16)
	for i := range b {
		switch r.IntN(4) {
		case 0:
			b[i] = 0
		case 1:
			b[i] = 255
		default:
			b[i] = byte(r.IntN(256))
		}
	}
	return b
}

// TestTermsSeparate: one input gives different terms under other
// columns, other versions, other key ids and other kinds (an equality
// term is never a prefix of the token's HMAC under the same column).
func TestTermsSeparate(t *testing.T) {
	kr := mustKeyring(t, "pii", 2)
	other := mustKeyring(t, "pii2", 1)
	base, err := kr.Terms("pii", 1, colName)
	if err != nil {
		t.Fatal(err)
	}
	var variants []*Terms
	for _, c := range []struct {
		kr  *Keyring
		id  string
		v   uint32
		col Column
	}{
		{kr, "pii", 2, colName},
		{kr, "pii", 1, colSSN},
		{kr, "pii", 1, Column{"public", "patientslast", "x"}},
		{other, "pii2", 1, colName},
	} {
		tm, err := c.kr.Terms(c.id, c.v, c.col)
		if err != nil {
			t.Fatal(err)
		}
		variants = append(variants, tm)
	}
	in := []byte("Gleason123456789")
	for _, tm := range variants {
		o1, _ := base.Ord(in)
		o2, _ := tm.Ord(in)
		if bytes.Equal(base.Eq(in), tm.Eq(in)) || bytes.Equal(o1, o2) || base.Token(in) == tm.Token(in) {
			t.Errorf("%v and %v share a term", base, tm)
		}
	}
	m := make([]byte, EqTermSize)
	base.match.sumInto(m, in)
	if string(base.Eq(in)) == string(m) {
		t.Error("the equality and match keys are one key")
	}
}

// TestTermsErrors: an unknown key or version, or a domain without a
// name, has no terms; a Terms prints no key.
func TestTermsErrors(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	if _, err := kr.Terms("pii", 2, colName); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("version 2: %v", err)
	}
	if _, err := kr.Terms("nope", 1, colName); err == nil {
		t.Error("unknown key: no error")
	}
	if _, err := kr.Terms("pii", 1, Column{Schema: "public"}); err == nil {
		t.Error("empty domain: no error")
	}
	a, _ := kr.Terms("pii", 1, colName)
	b, _ := kr.Terms("pii", 1, colName)
	if a != b {
		t.Error("the keyring derived one column's term keys twice")
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%s", "%d"} {
		if s := fmt.Sprintf(verb, a); s != "keys.Terms{pii v1 public.patients.last}" {
			t.Errorf("%s prints %q", verb, s)
		}
	}
}

// FuzzOrd: Ord orders any two inputs of one length as the inputs are
// ordered, and never fails.
func FuzzOrd(f *testing.F) {
	tm := vectorTerms(f)
	f.Add([]byte("Gleason1"), []byte("Gleason2"))
	f.Add([]byte{0, 0}, []byte{255, 255})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		n := min(len(a), len(b), 32)
		a, b = a[:n], b[:n]
		oa, err := tm.Ord(a)
		if err != nil {
			t.Fatal(err)
		}
		ob, err := tm.Ord(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(oa) != 2*n || bytes.Compare(oa, ob) != bytes.Compare(a, b) {
			t.Fatalf("Ord(%x) = %x, Ord(%x) = %x", a, oa, b, ob)
		}
	})
}

// FuzzEqToken: Eq and Token have their fixed sizes for any input, and
// Token's text is base64url.
func FuzzEqToken(f *testing.F) {
	tm := vectorTerms(f)
	f.Add([]byte("^gle"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(tm.Eq(in)) != EqTermSize {
			t.Fatal("Eq size")
		}
		tok := tm.Token(in)
		if len(tok) != TokenSize || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("Token %q", tok)
		}
	})
}

// BenchmarkOrd is the order term of a 16-byte sort key (P = 16, the text
// columns'): the design's gate is 12 µs.
func BenchmarkOrd(b *testing.B) {
	tm := vectorTerms(b)
	r := rand.New(rand.NewPCG(3, 4))
	ins := make([][]byte, 64)
	for i := range ins {
		ins[i] = make([]byte, 16)
		for j := range ins[i] {
			ins[i][j] = byte(r.IntN(256))
		}
	}
	i := 0
	for b.Loop() {
		if _, err := tm.Ord(ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestTermsConcurrent: goroutines deriving and using one column's terms
// at once (as sessions writing one table do) get one Terms and the terms
// a single goroutine computes. Run under -race.
func TestTermsConcurrent(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	ref, err := NewTerms(DataKey{}, colName)
	if err == nil {
		t.Fatal("NewTerms accepted an empty data key")
	}
	ref, _ = kr.Terms("pii", 1, colName)
	in := []byte("Gleason1Gleason2")
	wantO, _ := ref.Ord(in)
	wantE, wantT := ref.Eq(in), ref.Token(in)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 200 {
				tm, e := kr.Terms("pii", 1, colName)
				o, _ := tm.Ord(in)
				switch {
				case e != nil:
					err = e
				case tm != ref || !bytes.Equal(o, wantO) || !bytes.Equal(tm.Eq(in), wantE) || tm.Token(in) != wantT:
					err = fmt.Errorf("a concurrent use computed other terms")
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
