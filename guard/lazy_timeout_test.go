package guard

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLazyTimeout: the deadline runs from the first ask, expires like
// context.WithTimeout's, and stop before any ask starts nothing.
func TestLazyTimeout(t *testing.T) {
	lt := newLazyTimeout(20 * time.Millisecond)
	if lt.ctx != nil {
		t.Fatal("started before anyone asked")
	}
	before := time.Now()
	select {
	case <-lt.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done never closed")
	}
	if waited := time.Since(before); waited < 20*time.Millisecond {
		t.Errorf("expired after %v, before its timeout", waited)
	}
	if !errors.Is(lt.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the timeout: %v", lt.Err())
	}
	if d, ok := lt.Deadline(); !ok || d.Before(before) {
		t.Errorf("Deadline %v %v", d, ok)
	}
	lt.stop()

	unused := newLazyTimeout(time.Hour)
	unused.stop()
	if unused.cancel != nil {
		t.Error("stop started the timer")
	}
	if !errors.Is(unused.Err(), context.Canceled) {
		t.Errorf("asked after stop: %v, want canceled", unused.Err())
	}
	if unused.Value("k") != nil {
		t.Error("a value from nowhere")
	}
}
