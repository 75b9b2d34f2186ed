package guard

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestParseGate: statements below the gate pass at once; above it they
// are admitted in arrival order while their text fits, and one larger
// than the whole gate waits for it to empty and then holds all of it.
func TestParseGate(t *testing.T) {
	const size = 100 << 10
	var waits atomic.Int32
	g := newParseGate(size, func() { waits.Add(1) })
	if got := g.acquire(gatedStatementBytes - 1); got != 0 {
		t.Fatalf("a small statement took %d bytes of the gate", got)
	}
	admit := func(n int) chan int64 {
		held := make(chan int64, 1)
		go func() { held <- g.acquire(n) }()
		time.Sleep(20 * time.Millisecond) // queued before the next one
		return held
	}
	admitted := func(held chan int64) bool {
		select {
		case h := <-held:
			held <- h
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	}
	a := g.acquire(80 << 10)
	b := admit(80 << 10)
	c := admit(30 << 10) // would fit beside a, but b came first
	if admitted(b) || admitted(c) {
		t.Fatal("admitted while the gate was full before it")
	}
	if g.acquire(1<<10) != 0 {
		t.Fatal("a small statement waited")
	}
	g.release(a)
	if !admitted(b) || admitted(c) {
		t.Fatalf("after the first left: b admitted %v, c %v; want b alone", admitted(b), admitted(c))
	}
	huge := admit(10 << 20)
	g.release(<-b)
	if !admitted(c) || admitted(huge) {
		t.Fatal("c not admitted after b, or the huge one admitted beside it")
	}
	g.release(<-c)
	if h := <-huge; h != size {
		t.Fatalf("a statement larger than the gate holds %d bytes of it, want all %d", h, size)
	}
	if n := waits.Load(); n != 3 {
		t.Errorf("counted %d waits, want 3", n)
	}
}
