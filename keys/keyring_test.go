package keys

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var modes = []Mode{Randomized, Deterministic}

func TestRoundTrip(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	for _, m := range modes {
		for _, pt := range [][]byte{{}, []byte("x"), []byte("999-12-3456"), bytes.Repeat([]byte("é"), 5000)} {
			c, err := kr.Encrypt("pii", m, colSSN, pt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := kr.Decrypt(colSSN, c)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%v: Decrypt = %q, %v", m, got, err)
			}
		}
	}
}

func TestDeterminism(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	pt := []byte("MRN-0042")
	a, _ := kr.Encrypt("pii", Deterministic, colSSN, pt)
	b, _ := kr.Encrypt("pii", Deterministic, colSSN, pt)
	if !bytes.Equal(a, b) {
		t.Error("deterministic cells of one value differ")
	}
	c, _ := kr.Encrypt("pii", Deterministic, colName, pt)
	if bytes.Equal(a, c) {
		t.Error("deterministic cells of two columns are equal")
	}
	r1, _ := kr.Encrypt("pii", Randomized, colSSN, pt)
	r2, _ := kr.Encrypt("pii", Randomized, colSSN, pt)
	if bytes.Equal(r1, r2) {
		t.Error("randomized cells repeat")
	}
}

func TestSwappedColumnFails(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	for _, m := range modes {
		c, _ := kr.Encrypt("pii", m, colSSN, []byte("999-12-3456"))
		for _, other := range []Column{
			colName,
			{Schema: "other", Table: "patients", Name: "ssn"},
			{Schema: "public", Table: "patients2", Name: "ssn"},
			{Schema: "public.patients", Table: "ssn", Name: "x"}, // no ambiguity by concatenation
		} {
			if _, err := kr.Decrypt(other, c); !errors.Is(err, ErrIntegrity) {
				t.Errorf("%v into %s: %v, want ErrIntegrity", m, other, err)
			}
		}
	}
}

func TestWrongKeyFails(t *testing.T) {
	a := mustKeyring(t, "pii", 1)
	b := mustKeyring(t, "pii", 1) // same id and version, other bytes
	for _, m := range modes {
		c, _ := a.Encrypt("pii", m, colSSN, []byte("x"))
		if _, err := b.Decrypt(colSSN, c); !errors.Is(err, ErrIntegrity) {
			t.Errorf("%v: %v, want ErrIntegrity", m, err)
		}
	}
}

// TestRootUnderOtherIDFails: a data key moved (say in the KV store) to
// another id or version derives other cipher keys.
func TestRootUnderOtherIDFails(t *testing.T) {
	dk, _ := GenerateDataKey("a", 1, time.Now())
	moved := dk
	moved.ID = "b"
	bumped := dk
	bumped.Version = 2
	ka, _ := NewKeyring([]DataKey{dk})
	kb, _ := NewKeyring([]DataKey{moved, bumped})
	c, _ := ka.Encrypt("a", Deterministic, colSSN, []byte("x"))
	// Rewrite the header to claim key b / version 2; the AD changes too,
	// but the point is that even a consistent forgery would need b's keys.
	forged := reheader(t, c, "b", 1)
	if _, err := kb.Decrypt(colSSN, forged); !errors.Is(err, ErrIntegrity) {
		t.Errorf("moved key: %v", err)
	}
	c2, _ := kb.Encrypt("b", Deterministic, colSSN, []byte("x"))
	if bytes.Equal(c[len(c)-8:], c2[len(c2)-8:]) {
		t.Error("same root under two ids gives the same ciphertext")
	}
}

// reheader re-encodes a cell with another key id and version.
func reheader(t *testing.T, cellText []byte, id string, v uint32) []byte {
	t.Helper()
	c, err := parseCell(cellText)
	if err != nil {
		t.Fatal(err)
	}
	return encodeCell(appendHeader(nil, c.mode, id, v), c.body)
}

func TestVersions(t *testing.T) {
	old := mustKeyring(t, "pii", 1)
	c1, _ := old.Encrypt("pii", Randomized, colSSN, []byte("old"))
	d1, _ := old.Encrypt("pii", Deterministic, colSSN, []byte("old"))

	// Rotate: the same v1 plus a new v2.
	v1 := old.ids["pii"].versions[1].dk
	v2, _ := GenerateDataKey("pii", 2, time.Now())
	kr, err := NewKeyring([]DataKey{v2, v1})
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := kr.WriteVersion("pii"); w != 2 {
		t.Errorf("write version %d", w)
	}
	c2, _ := kr.Encrypt("pii", Randomized, colSSN, []byte("new"))
	if info, _ := Inspect(c2); info.KeyVersion != 2 {
		t.Errorf("new cell at version %d", info.KeyVersion)
	}
	for _, c := range [][]byte{c1, d1, c2} {
		if _, err := kr.Decrypt(colSSN, c); err != nil {
			t.Errorf("old or new version: %v", err)
		}
	}
	// EqualityCandidates: one per live version, write version first, and the
	// v1 candidate equals the cell written before rotation.
	cands, err := kr.EqualityCandidates("pii", colSSN, []byte("old"))
	if err != nil || len(cands) != 2 {
		t.Fatalf("candidates %d, %v", len(cands), err)
	}
	if i, _ := Inspect(cands[0]); i.KeyVersion != 2 {
		t.Errorf("first candidate version %d", i.KeyVersion)
	}
	if !bytes.Equal(cands[1], d1) {
		t.Error("v1 candidate does not match the pre-rotation cell")
	}
	if n, err := kr.LiveVersions("pii"); n != 2 || err != nil {
		t.Errorf("LiveVersions %d, %v", n, err)
	}
	// Version 2 cells on a keyring that only has v1: ErrUnknownKey.
	if _, err := old.Decrypt(colSSN, c2); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown version: %v", err)
	}
	// A header naming a version that never existed.
	if _, err := kr.Decrypt(colSSN, reheader(t, c1, "pii", 9)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("version 9: %v", err)
	}
	// A header naming a version that exists but is not the sealing one.
	if _, err := kr.Decrypt(colSSN, reheader(t, c1, "pii", 2)); !errors.Is(err, ErrIntegrity) {
		t.Errorf("v1 cell relabelled v2: %v", err)
	}
}

func TestUnknownKeyID(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	if _, err := kr.Encrypt("nope", Randomized, colSSN, nil); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Encrypt: %v", err)
	}
	if _, err := kr.EqualityCandidates("nope", colSSN, nil); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("EqualityCandidates: %v", err)
	}
	if _, err := kr.LiveVersions("nope"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("LiveVersions: %v", err)
	}
	other := mustKeyring(t, "other", 1)
	c, _ := other.Encrypt("other", Randomized, colSSN, []byte("x"))
	if _, err := kr.Decrypt(colSSN, c); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Decrypt: %v", err)
	}
	var nilKR *Keyring
	if _, err := nilKR.Decrypt(colSSN, c); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("nil keyring: %v", err)
	}
}

// TestCorruptedCells flips every bit of the decoded cell (header and body)
// and truncates it at every length: each must fail with ErrNotACell,
// ErrUnknownKey or ErrIntegrity, never decrypt.
func TestCorruptedCells(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	for _, m := range modes {
		c, _ := kr.Encrypt("pii", m, colSSN, []byte("999-12-3456"))
		raw, _ := b64.DecodeString(string(c[len(Prefix):]))
		for i := range raw {
			for bit := 0; bit < 8; bit++ {
				bad := bytes.Clone(raw)
				bad[i] ^= 1 << bit
				checkFails(t, kr, m, append([]byte(Prefix), b64.EncodeToString(bad)...))
			}
		}
		for n := 0; n < len(raw); n++ {
			checkFails(t, kr, m, append([]byte(Prefix), b64.EncodeToString(raw[:n])...))
		}
		for n := 0; n < len(c); n++ {
			checkFails(t, kr, m, c[:n])
		}
		checkFails(t, kr, m, append(bytes.Clone(c), 'A'))
		for _, extra := range []string{"\n", "\r\n", "=", " ", "+"} {
			mid := len(Prefix) + 10
			checkFails(t, kr, m, append(append(bytes.Clone(c[:mid]), extra...), c[mid:]...))
			checkFails(t, kr, m, append(bytes.Clone(c), extra...))
		}
		checkFails(t, kr, m, append(append([]byte(Prefix), b64.EncodeToString(raw)...), b64.EncodeToString([]byte{0})...))
	}
}

func checkFails(t *testing.T, kr *Keyring, m Mode, c []byte) {
	t.Helper()
	pt, err := kr.Decrypt(colSSN, c)
	if err == nil {
		t.Fatalf("%v: corrupted cell %q decrypted to %q", m, c, pt)
	}
	if !errors.Is(err, ErrNotACell) && !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("%v: untyped error %v", m, err)
	}
}

func TestNewKeyringRejects(t *testing.T) {
	dk, _ := GenerateDataKey("a", 1, time.Now())
	short := dk
	short.Key = NewSecret(make([]byte, 16))
	zero := dk
	zero.Version = 0
	badID := dk
	badID.ID = "a/b"
	for name, in := range map[string][]DataKey{
		"duplicate": {dk, dk}, "short key": {short}, "version 0": {zero}, "bad id": {badID},
	} {
		if _, err := NewKeyring(in); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestStatusHasNoKeyBytes(t *testing.T) {
	kr := mustKeyring(t, "b", 2)
	st := kr.Status()
	if len(st) != 1 || st[0].ID != "b" || st[0].WriteVersion != 2 || len(st[0].Versions) != 2 || st[0].Versions[0].Version != 1 {
		t.Errorf("Status = %+v", st)
	}
	if got := kr.String(); got != "keys.Keyring{b:v1,v2}" {
		t.Errorf("String = %q", got)
	}
}

func TestEncryptValidates(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	if _, err := kr.Encrypt("pii", Mode(7), colSSN, nil); err == nil {
		t.Error("mode 7 accepted")
	}
	if _, err := kr.Encrypt("pii", Randomized, Column{Table: "t", Name: "c"}, nil); err == nil {
		t.Error("column without schema accepted")
	}
}

// TestEmptyPlaintextIsNotNil: an empty value decrypts to an empty, non-nil
// slice in every mode and under a subject key. Callers hand the plaintext
// on as a wire field, where nil is SQL NULL: a randomized text column
// holding an empty string read back as NULL through phiguard (Django's
// blank visit notes).
func TestEmptyPlaintextIsNotNil(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	for _, m := range modes {
		c, err := kr.Encrypt("pii", m, colSSN, []byte{})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := kr.Decrypt(colSSN, c); err != nil || got == nil || len(got) != 0 {
			t.Errorf("%v: Decrypt of an empty value = %#v, %v; want []byte{}", m, got, err)
		}
	}
	dk, _ := GenerateDataKey(SubjectKeyID, 1, time.Now())
	skr, _ := NewKeyring([]DataKey{dk})
	sk, err := NewSubjectKeys(skr, &memStore{m: map[string][]byte{}}, SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sk.Encrypt(context.Background(), "patient-1", colName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sk.Decrypt(context.Background(), colName, c); err != nil || got == nil || len(got) != 0 {
		t.Errorf("subject key: Decrypt of an empty value = %#v, %v; want []byte{}", got, err)
	}
}

// TestDecryptInto: with one Scratch reused over cells of every mode and
// of growing and shrinking lengths, DecryptInto appends exactly what
// Decrypt returns to the caller's buffer, leaves nothing of one cell in
// the next, and fails as Decrypt does (a cell of another column, an
// altered one, an unknown key).
func TestDecryptInto(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	var s Scratch
	values := []string{"", "a", strings.Repeat("long value ", 30), "999-12-3456", ""}
	for _, m := range modes {
		for _, v := range values {
			c, err := kr.Encrypt("pii", m, colSSN, []byte(v))
			if err != nil {
				t.Fatal(err)
			}
			got, err := kr.DecryptInto(&s, []byte("prefix:"), colSSN, c)
			if err != nil || string(got) != "prefix:"+v {
				t.Fatalf("%v %q: %q %v", m, v, got, err)
			}
			empty, err := kr.DecryptInto(&s, nil, colSSN, c)
			if err != nil || empty == nil || string(empty) != v {
				t.Fatalf("%v %q into nil: %q (nil %v) %v", m, v, empty, empty == nil, err)
			}
			other := colSSN
			other.Name = "other"
			if _, err := kr.DecryptInto(&s, nil, other, c); !errors.Is(err, ErrIntegrity) {
				t.Errorf("%v %q: another column's AD: %v", m, v, err)
			}
			altered := bytes.Clone(c)
			altered[len(altered)-2] ^= 1
			if _, err := kr.DecryptInto(&s, nil, colSSN, altered); err == nil {
				t.Errorf("%v %q: an altered cell opened", m, v)
			}
		}
	}
	foreign := mustKeyring(t, "elsewhere", 1)
	c, _ := foreign.Encrypt("elsewhere", Randomized, colSSN, []byte("x"))
	if _, err := kr.DecryptInto(&s, nil, colSSN, c); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
}
