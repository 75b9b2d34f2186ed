package integration

import (
	"bytes"
	"context"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/keys"
)

// memSink keeps the audit lines in memory and fails every write while
// broken, like a full disk.
type memSink struct {
	mu     gosync.Mutex
	broken bool
	lines  [][]byte
}

func (m *memSink) Resume() (audit.Tail, error) { return audit.Tail{}, nil }
func (m *memSink) Sync() error                 { return nil }
func (m *memSink) Close() error                { return nil }
func (m *memSink) Write(lines []audit.Line) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken {
		return 0, fmt.Errorf("no space left on device")
	}
	for _, l := range lines {
		m.lines = append(m.lines, append([]byte(nil), l.B...))
	}
	return len(lines), nil
}
func (m *memSink) set(broken bool) { m.mu.Lock(); m.broken = broken; m.mu.Unlock() }

// breakableAuditor is an auditor writing to a memSink that a test can
// break and heal, retrying quickly. When the test ends the sink is healed
// first, so that Close can write what the auditor holds.
func breakableAuditor(t *testing.T) (*audit.Auditor, *memSink) {
	t.Helper()
	sink := &memSink{}
	a, err := audit.New(audit.Options{Key: audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{3}, 32))},
		Sink: sink, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sink.set(false)
		a.Close(context.Background())
	})
	return a, sink
}
