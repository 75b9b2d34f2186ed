package pgwire

import (
	"net"
	"strings"
	"testing"
	"time"
)

const bufSize = 8192

// TestReaderLetsGoOfLargeMessage: a message too large for the read buffer
// is copied to be inspected; the copy must go as soon as the reader waits
// for the next message, not when that message arrives.
func TestReaderLetsGoOfLargeMessage(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	msg := QueryMessage([]byte(strings.Repeat("x", 4*bufSize)))
	go c2.Write(msg)
	r := NewMsgReader(c1, bufSize, 1<<20)
	if typ, _, err := r.Next(); err != nil || typ != FeQuery {
		t.Fatalf("next: %q %v", typ, err)
	}
	if m, err := r.Whole(); err != nil || len(m) != len(msg) {
		t.Fatalf("whole: %d bytes, %v", len(m), err)
	}
	c1.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if err := r.Wait(); err == nil {
		t.Fatal("wait returned without input")
	}
	if r.big != nil {
		t.Errorf("the reader still holds the last %d-byte message while waiting for the next", len(r.big))
	}
	if r.br.Size() != bufSize {
		t.Errorf("read buffer grew to %d bytes", r.br.Size())
	}
}
