package audit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReservedRecordsAreAccepted: a statement admitted with a reservation
// gets its record even when, while it ran, other records filled the queue
// and the auditor turned unhealthy; Record without a reservation is refused
// then, and Reserve too. Released slots are room again.
func TestReservedRecordsAreAccepted(t *testing.T) {
	sink := &failSink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	a, err := New(Options{Instance: "t", Key: testKey(t), Sink: sink, QueueSize: 8, BatchDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	// The writer writes audit_start and blocks in the sink: the queue is
	// now the only room.
	<-sink.entered

	r, err := a.Reserve(3)
	if err != nil || r.Held() != 3 {
		t.Fatalf("Reserve(3): %v, held %d", err, r.Held())
	}
	filled := 0
	for a.Record(stmt(t, "SELECT 1", 1)) == nil {
		filled++
		if filled > 100 {
			t.Fatal("Record never refused")
		}
	}
	if filled != 5 {
		t.Errorf("unreserved records accepted: %d, want 8 - 3 = 5", filled)
	}
	if _, err := a.Reserve(1); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Reserve on a full queue: %v", err)
	}
	for i := range 3 {
		if err := r.Record(stmt(t, "SELECT 2", 1)); err != nil {
			t.Fatalf("reserved record %d refused: %v", i, err)
		}
	}
	// A fourth record through the spent reservation is an ordinary one.
	if err := r.Record(stmt(t, "SELECT 3", 1)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("record past the reservation: %v", err)
	}
	close(sink.block)
	waitFor(t, "recovery", func() bool { return a.Healthy() == nil })

	r2, err := a.Reserve(8)
	if err != nil {
		t.Fatalf("Reserve(8) after draining: %v", err)
	}
	r2.Release()
	if a.pending.Load() != 0 {
		t.Errorf("pending %d after Release, want 0", a.pending.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(sink.lines(), "\n")
	if n := strings.Count(all, "SELECT $1"); n < 1 || strings.Count(all, `"event":"statement"`) != 5+3 {
		t.Errorf("statements written: %d, want 8 (5 unreserved + 3 reserved)", strings.Count(all, `"event":"statement"`))
	}
}
