package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRestartContinuesChain(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	for run := range 3 {
		a := openFile(t, dir, key, 3000, nil)
		for range 5 {
			if err := a.Record(stmt(t, "SELECT 1", 1)); err != nil {
				t.Fatal(err)
			}
		}
		if run == 1 {
			// A crash: no audit_stop, and a torn record behind the last one.
			closeA(t, a)
			fs := files(t, dir)
			ls := fileLines(t, fs[len(fs)-1])
			writeLines(t, fs[len(fs)-1], append(ls[:len(ls)-1], `{"seq":99,"time":"2026`))
			continue
		}
		closeA(t, a)
	}
	fs := files(t, dir)
	r := verify(t, key, fs...)
	if !r.OK() || r.Chains != 3 || !r.Anchored || !r.Ended || r.Records != 3*5+3+2 {
		t.Fatalf("restarts: %+v %v", r, r.Problem)
	}
	all := string(readAll(t, fs))
	if strings.Count(all, `"reason":"restart"`) != 2 || !strings.Contains(all, `"torn_tail_bytes":22`) {
		t.Errorf("restart records missing:\n%s", all)
	}
	// A restart under a new key version: verify asks for each chain's key.
	dk2 := testKey(t)
	dk2.Version = 2
	a := openFile(t, dir, dk2, 3000, nil)
	a.Record(stmt(t, "SELECT 1", 1))
	closeA(t, a)
	keysByVersion := map[uint32]MACKey{1: key, 2: dk2}
	r, err := Verify(func(id string, v uint32) (keys.Secret, error) {
		return keysByVersion[v].Secret, nil
	}, files(t, dir)...)
	if err != nil || !r.OK() || r.Chains != 4 {
		t.Fatalf("key change: %+v %v %v", r, r.Problem, err)
	}
}

// failSink fails while broken is set, and can block writes.
type failSink struct {
	mu      sync.Mutex
	broken  atomic.Bool
	block   chan struct{}
	entered chan struct{}
	buf     bytes.Buffer
}

func (s *failSink) Resume() (Tail, error) { return Tail{}, nil }
func (s *failSink) Write(ls []Line) (int, error) {
	if s.block != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-s.block
	}
	if s.broken.Load() {
		return 0, errors.New("no space left on device")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range ls {
		s.buf.Write(l.B)
	}
	return len(ls), nil
}
func (s *failSink) Sync() error  { return nil }
func (s *failSink) Close() error { return nil }
func (s *failSink) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.buf.String()), "\n")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestFailClosedWhenSinkFails(t *testing.T) {
	sink := &failSink{}
	reg := prometheus.NewRegistry()
	a, err := New(Options{Instance: "t", Key: testKey(t), Sink: sink, Registerer: reg, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Record(stmt(t, "SELECT 1", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first write", func() bool { return len(sink.lines()) == 2 })

	sink.broken.Store(true)
	accepted := 0
	if a.Record(stmt(t, "SELECT 2", 1)) == nil { // accepted: the writer holds it and retries
		accepted++
	}
	waitFor(t, "unhealthy", func() bool { return a.Healthy() != nil })
	err = a.Record(stmt(t, "SELECT 3", 1))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("Record while the sink fails: %v", err)
	}
	if got := testutil.ToFloat64(a.m.healthy); got != 0 {
		t.Errorf("healthy gauge %v", got)
	}
	if testutil.ToFloat64(a.m.writeErrors) < 1 || testutil.ToFloat64(a.m.rejected.WithLabelValues("unhealthy")) != 1 {
		t.Errorf("metrics: write errors %v, rejected %v", testutil.ToFloat64(a.m.writeErrors), testutil.ToFloat64(a.m.rejected.WithLabelValues("unhealthy")))
	}

	sink.broken.Store(false)
	waitFor(t, "recovery", func() bool { return a.Healthy() == nil })
	if err := a.Record(stmt(t, "SELECT 4", 1)); err != nil {
		t.Fatal(err)
	}
	closeA(t, a)
	ls := sink.lines()
	// start, SELECT 1, SELECT 2 (held through the outage), recovered, SELECT 4, stop.
	if len(ls) != 6 || !strings.Contains(ls[2], "SELECT $1") || !strings.Contains(ls[3], `"event":"audit_recovered"`) || !strings.Contains(ls[3], `"rejected":1`) {
		t.Fatalf("records:\n%s", strings.Join(ls, "\n"))
	}
	_ = accepted
}

func TestFailClosedWhenQueueFull(t *testing.T) {
	sink := &failSink{block: make(chan struct{}), entered: make(chan struct{})}
	a, err := New(Options{Instance: "t", Key: testKey(t), Sink: sink, QueueSize: 4, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	// The writer is stuck in its first Write (the start record); fill the queue.
	<-sink.entered
	for i := range 4 {
		if err := a.Record(stmt(t, "SELECT 1", 1)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	start := time.Now()
	err = a.Record(stmt(t, "SELECT 1", 1))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "queue of 4 records is full") {
		t.Fatalf("full queue: %v", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Error("Record blocked on a full queue")
	}
	if err := a.Record(stmt(t, "SELECT 1", 1)); !errors.Is(err, ErrUnavailable) {
		t.Fatal("still unhealthy until a write succeeds")
	}
	close(sink.block)
	waitFor(t, "recovery", func() bool { return a.Healthy() == nil })
	closeA(t, a)
	ls := sink.lines()
	if len(ls) != 1+4+1+1 || !strings.Contains(strings.Join(ls, ""), `"rejected":2`) {
		t.Fatalf("records:\n%s", strings.Join(ls, "\n"))
	}
}

func TestFailClosedUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	logDir := filepath.Join(dir, "audit")
	a := openFile(t, logDir, key, 1200, nil) // a new file every two or three records
	record := func() error { return a.Record(stmt(t, "SELECT ssn FROM patients WHERE id = 1", 1)) }
	for range 3 {
		if err := record(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "writes", func() bool { return testutil.ToFloat64(a.m.records.WithLabelValues(EventStatement)) == 3 })
	// Take the directory away (root ignores permission bits, so replace it with a file).
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(logDir, moved); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(logDir, nil, 0o600)
	accepted, refused := 0, 0
	for range 20 {
		if record() == nil {
			accepted++
		} else {
			refused++
		}
		time.Sleep(time.Millisecond)
	}
	if refused == 0 || a.Healthy() == nil {
		t.Fatalf("an unwritable directory must make the auditor refuse: accepted %d", accepted)
	}
	if !strings.Contains(a.Healthy().Error(), "not a directory") {
		t.Errorf("reason: %v", a.Healthy())
	}
	// Bring it back: every accepted record is written, and the log says how many were refused.
	os.Remove(logDir)
	os.Rename(moved, logDir)
	waitFor(t, "recovery", func() bool { return a.Healthy() == nil })
	closeA(t, a)
	fs := files(t, logDir)
	r := verify(t, key, fs...)
	if !r.OK() || !r.Ended {
		t.Fatalf("verify after outage: %+v %v", r, r.Problem)
	}
	all := string(readAll(t, fs))
	if got := strings.Count(all, `"event":"statement"`); got != 3+accepted {
		t.Errorf("%d statements written, want %d (3 + %d accepted)", got, 3+accepted, accepted)
	}
	if !strings.Contains(all, fmt.Sprintf(`"rejected":%d`, refused)) {
		t.Errorf("the recovery record must count %d refused records", refused)
	}
}

func TestCloseGivesUpOnBrokenSink(t *testing.T) {
	sink := &failSink{}
	sink.broken.Store(true)
	a, _ := New(Options{Instance: "t", Key: testKey(t), Sink: sink, Registerer: prometheus.NewRegistry(), RetryMin: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := a.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "records could not be written") || testutil.ToFloat64(a.m.lost) < 1 {
		t.Fatalf("close: %v", err)
	}
}
