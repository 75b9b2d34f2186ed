package pgcollate

import (
	"errors"
	"testing"
)

func TestOpenRefuses(t *testing.T) {
	for _, name := range []string{"", "no_SUCH.utf8", "en_US.utf8\x00C"} {
		if _, err := Open(name); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		}
	}
	if _, err := Open("no_SUCH.utf8"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Open of a missing locale: %v, want ErrNotInstalled", err)
	}
	if _, err := Open("C"); err == nil {
		t.Error("Open(C) succeeded: its codeset is ANSI_X3.4-1968, not UTF-8")
	}
}

func TestCompareBreaksTiesByBytes(t *testing.T) {
	l, err := Open("C.utf8")
	if err != nil {
		t.Skip(err)
	}
	if l.Compare([]byte("a"), []byte("a")) != 0 || l.Compare([]byte(""), []byte("a")) != -1 || l.Compare([]byte("b"), []byte("a")) != 1 {
		t.Error("C.utf8 does not order by code point")
	}
	if again, _ := Open("C.utf8"); again != l {
		t.Error("Open opened the same locale twice")
	}
}

func BenchmarkCompare(b *testing.B) {
	l, err := Open("en_US.utf8")
	if err != nil {
		b.Skip(err)
	}
	x, y := []byte("Smith-Jones, Anna"), []byte("smith jones, anne")
	for b.Loop() {
		l.Compare(x, y)
	}
}
