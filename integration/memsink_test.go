package integration

import (
	"fmt"
	gosync "sync"

	"github.com/phiguard/phiguard/audit"
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
