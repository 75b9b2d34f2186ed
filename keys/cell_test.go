package keys

import (
	"strings"
	"testing"
)

func TestLegacyPlaintextIsNotACell(t *testing.T) {
	for _, v := range []string{
		"", "~", "~phg", "~phg~", "~phg~~", "999-12-3456", "Smith", "1970-01-01", "~/notes.txt",
		"~phg~not base64!", "~phg~AAAA", "$2b$10$abcdefghijk", "vault:v1:abcd",
		"~PHG~AQEDc3NuAAAAAQ", strings.Repeat("A", 200),
	} {
		if IsCell([]byte(v)) {
			t.Errorf("IsCell(%q) = true", v)
		}
		if _, err := Inspect([]byte(v)); err == nil {
			t.Errorf("Inspect(%q) succeeded", v)
		}
	}
}

func TestCellShape(t *testing.T) {
	kr := mustKeyring(t, "ssn", 1)
	for _, tc := range []struct {
		mode Mode
		len  int
	}{{Randomized, 71}, {Deterministic, 55}} {
		c, err := kr.Encrypt("ssn", tc.mode, colSSN, []byte("999-12-3456"))
		if err != nil {
			t.Fatal(err)
		}
		if !IsCell(c) || !strings.HasPrefix(string(c), Prefix) {
			t.Fatalf("%v: not a cell: %s", tc.mode, c)
		}
		if len(c) != tc.len {
			t.Errorf("%v: len %d, doc says %d", tc.mode, len(c), tc.len)
		}
		for _, r := range string(c[len(Prefix):]) {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				t.Fatalf("%v: %q is outside base64url", tc.mode, r)
			}
		}
		info, err := Inspect(c)
		if err != nil || info != (CellInfo{Mode: tc.mode, KeyID: "ssn", KeyVersion: 1}) {
			t.Errorf("Inspect = %+v, %v", info, err)
		}
	}
}

func TestValidateKeyID(t *testing.T) {
	for _, ok := range []string{"a", "patients.ssn", "pii_v2-eu", strings.Repeat("k", 64)} {
		if err := ValidateKeyID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "ä", strings.Repeat("k", 65), "a\x00"} {
		if err := ValidateKeyID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestContainsCell: a cell is found as a whole value and inside the text
// PostgreSQL builds from one (a row, an array, a concatenation); legacy
// values and a bare or broken prefix are not cells.
func TestContainsCell(t *testing.T) {
	kr := mustKeyring(t, "ssn", 1)
	for _, mode := range []Mode{Randomized, Deterministic} {
		c, err := kr.Encrypt("ssn", mode, colSSN, []byte("999-12-3456"))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{string(c), "(1," + string(c) + ")", `{"` + string(c) + `"}`, "x" + string(c) + "!", "~phg~ " + string(c)} {
			if !ContainsCell([]byte(v)) {
				t.Errorf("ContainsCell(%q) = false", v)
			}
		}
		if ContainsCell(c[:len(Prefix)+12]) {
			t.Errorf("a cell cut after its header counts as one")
		}
	}
	for _, v := range []string{"", "Smith", "~phg~", "a ~phg~ b", "~phg~AAAA", "~PHG~AQEDc3NuAAAAAQ", strings.Repeat("~phg~", 50)} {
		if ContainsCell([]byte(v)) {
			t.Errorf("ContainsCell(%q) = true", v)
		}
	}
}

// BenchmarkContainsCell: what the stray-cell check costs a result value
// phiguard does not decrypt: a plain row's bytes (no prefix) and a cell.
func BenchmarkContainsCell(b *testing.B) {
	kr := mustKeyring(b, "ssn", 1)
	c, err := kr.Encrypt("ssn", Randomized, colSSN, []byte("999-12-3456"))
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		v    []byte
	}{{"plain-100B", []byte(strings.Repeat("Smith 1970-01-01 ", 6))}, {"cell", c}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ContainsCell(v.v)
			}
		})
	}
}
