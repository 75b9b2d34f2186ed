package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Line is one sealed record, newline included.
type Line struct {
	Seq uint64
	B   []byte
}

// Tail is where an earlier run of the chain ended, as a sink finds it on
// start: the last complete record's seq and MAC (zero for a new sink), and
// the bytes of a torn record after it that the sink cut off.
type Tail struct {
	Seq       uint64
	MAC       string
	TornBytes int64
	File      string
}

// Sink stores sealed records. The auditor calls it from one goroutine.
type Sink interface {
	// Resume is called once, before any Write.
	Resume() (Tail, error)
	// Write appends lines in order and returns how many were stored whole.
	// On error no partial line may be left behind (a sink that cannot
	// guarantee it says so in its documentation); the auditor retries
	// lines[n:] unchanged.
	Write(lines []Line) (n int, err error)
	// Sync makes what was written durable.
	Sync() error
	Close() error
}

// WriterSink writes records to an io.Writer such as os.Stdout, for a
// collector that reads the proxy's output. It cannot resume a chain (each
// start is a new chain with no predecessor), rotate or take back a
// partial line; a failed write is retried from the first line not
// written whole, so a collector may see a torn line followed by the whole
// record.
type WriterSink struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriterSink returns a sink writing to w.
func NewWriterSink(w io.Writer) *WriterSink { return &WriterSink{w: w} }

// Resume implements Sink.
func (s *WriterSink) Resume() (Tail, error) { return Tail{}, nil }

// Write implements Sink.
func (s *WriterSink) Write(lines []Line) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = s.buf[:0]
	for _, l := range lines {
		s.buf = append(s.buf, l.B...)
	}
	n, err := s.w.Write(s.buf)
	if err == nil {
		return len(lines), nil
	}
	done := 0
	for _, l := range lines {
		if n < len(l.B) {
			break
		}
		n -= len(l.B)
		done++
	}
	return done, err
}

// Sync implements Sink. It does nothing: stdout is a pipe or a terminal,
// where durability is the reader's business.
func (s *WriterSink) Sync() error { return nil }

// Close implements Sink.
func (s *WriterSink) Close() error { return nil }

// parseTail reads seq and mac from a complete record line.
func parseTail(line []byte) (uint64, string, error) {
	var e struct {
		Seq uint64 `json:"seq"`
		MAC string `json:"mac"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(line), &e); err != nil || e.Seq == 0 || len(e.MAC) != macLen {
		return 0, "", fmt.Errorf("the last line is not an audit record")
	}
	return e.Seq, e.MAC, nil
}
