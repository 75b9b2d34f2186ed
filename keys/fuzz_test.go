package keys

import (
	"errors"
	"fmt"
	"testing"

	"github.com/phiguard/phiguard/internal/race"
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
		pt, err := kr.Decrypt(colSSN, v)
		into, errInto := kr.DecryptInto(&fuzzScratch, []byte("x"), colSSN, v)
		if (err == nil) != (errInto == nil) || err == nil && string(into) != "x"+string(pt) {
			t.Fatalf("DecryptInto disagrees with Decrypt: %q %v, %q %v", pt, err, into, errInto)
		}
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

// fuzzScratch is reused from input to input, as a session reuses its.
var fuzzScratch Scratch

// BenchmarkDecrypt opens an 11-byte value: Decrypt allocates its work,
// DecryptInto reuses a Scratch and the caller's buffer.
func BenchmarkDecrypt(b *testing.B) {
	kr := mustKeyring(b, "pii", 1)
	for _, m := range modes {
		c, _ := kr.Encrypt("pii", m, colSSN, []byte("999-12-3456"))
		b.Run(m.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := kr.Decrypt(colSSN, c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(m.String()+"/into", func(b *testing.B) {
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

// TestEncryptAllocatesOnlyTheCell: sealing builds the cell in pooled work
// buffers, so a Bind's every protected value costs one allocation, its
// cell; and what comes out still opens, pooled buffers or not, from many
// goroutines at once.
func TestEncryptAllocatesOnlyTheCell(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	pt := []byte("999-12-3456")
	for _, m := range modes {
		// Under -race a sync.Pool drops a quarter of what is put back, and
		// the detector allocates: the counts hold in a normal build only.
		if n := testing.AllocsPerRun(100, func() { _, _ = kr.Encrypt("pii", m, colSSN, pt) }); n > 1 && !race.Enabled {
			t.Errorf("%v: Encrypt made %.1f allocations, want 1 (the cell)", m, n)
		}
		var s Scratch
		dst := make([]byte, 0, 64)
		c, _ := kr.Encrypt("pii", m, colSSN, pt)
		if n := testing.AllocsPerRun(100, func() { _, _ = kr.DecryptInto(&s, dst, colSSN, c) }); n > 0 && !race.Enabled {
			t.Errorf("%v: DecryptInto made %.1f allocations with a warm Scratch, want 0", m, n)
		}
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			var err error
			for i := range 200 {
				want := fmt.Appendf(nil, "value %d of %d", i, g)
				m := modes[i%len(modes)]
				var c, got []byte
				if c, err = kr.Encrypt("pii", m, colSSN, want); err == nil {
					got, err = kr.Decrypt(colSSN, c)
				}
				if err == nil && string(got) != string(want) {
					err = fmt.Errorf("%v: %q opened as %q", m, want, got)
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
