package keys

import (
	"errors"
	"testing"
)

// FuzzDecrypt: no input panics Decrypt, and every failure is typed.
func FuzzDecrypt(f *testing.F) {
	kr := mustKeyring(f, "pii", 2)
	for _, m := range modes {
		c, _ := kr.Encrypt("pii", m, colSSN, []byte("999-12-3456"))
		f.Add(c)
	}
	f.Add([]byte(Prefix))
	f.Add([]byte("plain"))
	f.Fuzz(func(t *testing.T, v []byte) {
		_, err := kr.Decrypt(colSSN, v)
		if err != nil && !errors.Is(err, ErrNotACell) && !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("untyped error %v", err)
		}
		if IsCell(v) != (err == nil || !errors.Is(err, ErrNotACell)) {
			t.Fatalf("IsCell disagrees with Decrypt: %v", err)
		}
	})
}

func BenchmarkEncrypt(b *testing.B) {
	kr := mustKeyring(b, "pii", 1)
	pt := []byte("999-12-3456")
	for _, m := range modes {
		b.Run(m.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := kr.Encrypt("pii", m, colSSN, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	kr := mustKeyring(b, "pii", 1)
	for _, m := range modes {
		c, _ := kr.Encrypt("pii", m, colSSN, []byte("999-12-3456"))
		b.Run(m.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := kr.Decrypt(colSSN, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
