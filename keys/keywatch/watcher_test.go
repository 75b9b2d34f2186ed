package keywatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/phiguard/phiguard/keys"
)

// script is a key service whose next answer the test sets.
type script struct {
	mu  sync.Mutex
	kr  *keys.Keyring
	err error
}

func (s *script) set(kr *keys.Keyring, err error) { s.mu.Lock(); s.kr, s.err = kr, err; s.mu.Unlock() }
func (s *script) revalidate(context.Context) (*keys.Keyring, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kr, s.err
}

func ring(t *testing.T, versions ...uint32) *keys.Keyring {
	t.Helper()
	var dks []keys.DataKey
	for _, id := range []string{"pii", "audit"} {
		for _, v := range versions {
			dk, err := keys.GenerateDataKey(id, v, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			dks = append(dks, dk)
		}
	}
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

type harness struct {
	w       *Watcher
	svc     *script
	now     time.Time
	applied []*keys.Keyring
	events  []Event
	m       *Metrics
}

func newHarness(t *testing.T, grace time.Duration) *harness {
	t.Helper()
	h := &harness{svc: &script{}, now: time.Unix(1_800_000_000, 0)}
	initial := ring(t, 1)
	h.svc.set(initial, nil)
	var err error
	h.m, err = NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h.w, err = New(initial, Options{
		Revalidate: h.svc.revalidate, Required: []string{"audit", "pii"}, Grace: grace,
		Apply:   func(kr *keys.Keyring) { h.applied = append(h.applied, kr) },
		Event:   func(ev Event) { h.events = append(h.events, ev) },
		Metrics: h.m, Now: func() time.Time { return h.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) check(t *testing.T, want State) {
	t.Helper()
	if got := h.w.Check(context.Background()); got != want {
		_, reason := h.w.State()
		t.Fatalf("state %s (%v), want %s", got, reason, want)
	}
	if got := testutil.ToFloat64(h.m.state.WithLabelValues(string(want))); got != 1 {
		t.Fatalf("phiguard_keys_state{state=%q} = %v", want, got)
	}
}

func (h *harness) lastApplied(t *testing.T) *keys.Keyring {
	t.Helper()
	if len(h.applied) == 0 {
		t.Fatal("no keyring applied")
	}
	return h.applied[len(h.applied)-1]
}

var denied = fmt.Errorf("vault: kv list secret/metadata/phiguard/keys: permission denied (HTTP 403): %w", keys.ErrPermissionDenied)
var down = fmt.Errorf("vault: kv list: unreachable: connection refused: %w", keys.ErrUnavailable)

func TestARefusalWithdrawsAtOnceAndAnAnswerRestores(t *testing.T) {
	h := newHarness(t, 15*time.Minute)
	h.check(t, Serving)
	if len(h.applied) != 0 {
		t.Fatalf("the same keys were applied again: %d", len(h.applied))
	}
	h.svc.set(nil, denied)
	h.check(t, Withdrawn)
	kr := h.lastApplied(t)
	if _, err := kr.WriteVersion("pii"); !errors.Is(err, keys.ErrWithdrawn) {
		t.Fatalf("applied keyring answers %v, want withdrawn", err)
	}
	if err := h.w.Ready(context.Background()); err == nil || !errors.Is(err, keys.ErrPermissionDenied) {
		t.Fatalf("Ready() = %v, want the refusal", err)
	}
	if h.events[0].Action != "withdrawn" || h.events[0].Reason == "" {
		t.Fatalf("events %+v", h.events)
	}
	if got := testutil.ToFloat64(h.m.withdrawals.WithLabelValues("refused")); got != 1 {
		t.Fatalf("withdrawals{refused} = %v", got)
	}
	// Withdrawn stays withdrawn while the service is down, whatever the grace.
	h.svc.set(nil, down)
	h.now = h.now.Add(time.Hour)
	h.check(t, Withdrawn)
	back := ring(t, 1)
	h.svc.set(back, nil)
	h.check(t, Serving)
	if h.lastApplied(t) != back || h.events[len(h.events)-1].Action != "restored" {
		t.Fatalf("not restored: events %+v", h.events)
	}
	if h.w.Ready(context.Background()) != nil {
		t.Fatal("not ready after restore")
	}
}

func TestAnOutageServesForTheGraceThenWithdraws(t *testing.T) {
	h := newHarness(t, 15*time.Minute)
	h.svc.set(nil, down)
	h.check(t, Offline)
	if len(h.applied) != 0 {
		t.Fatal("keys changed when the service went offline")
	}
	if h.w.Ready(context.Background()) != nil {
		t.Fatal("offline within the grace must stay ready")
	}
	h.now = h.now.Add(14 * time.Minute)
	h.check(t, Offline)
	h.now = h.now.Add(time.Minute)
	h.check(t, Withdrawn)
	if got := testutil.ToFloat64(h.m.withdrawals.WithLabelValues("offline_grace")); got != 1 {
		t.Fatalf("withdrawals{offline_grace} = %v", got)
	}
	// An answer within the grace resets it.
	h2 := newHarness(t, time.Minute)
	h2.svc.set(nil, down)
	h2.check(t, Offline)
	h2.now = h2.now.Add(50 * time.Second)
	h2.svc.set(ring(t, 1), nil)
	h2.check(t, Serving)
	h2.svc.set(nil, down)
	h2.now = h2.now.Add(50 * time.Second)
	h2.check(t, Offline)
}

func TestZeroGraceFailsClosedAtOnce(t *testing.T) {
	h := newHarness(t, 0)
	h.svc.set(nil, down)
	h.check(t, Withdrawn)
}

func TestUnclassifiedErrorsAreOutagesNotRefusals(t *testing.T) {
	h := newHarness(t, time.Minute)
	h.svc.set(nil, errors.New("vault: kv read: unexpected answer"))
	h.check(t, Offline)
}

func TestARemovedKeyRecordWithdraws(t *testing.T) {
	h := newHarness(t, time.Hour)
	only, err := keys.NewKeyring(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.svc.set(only, nil)
	h.check(t, Withdrawn)
	if _, reason := h.w.State(); !errors.Is(reason, keys.ErrUnknownKey) {
		t.Fatalf("reason %v", reason)
	}
}

func TestANewVersionIsPickedUp(t *testing.T) {
	h := newHarness(t, time.Hour)
	rotated := ring(t, 1, 2)
	h.svc.set(rotated, nil)
	h.check(t, Serving)
	if h.lastApplied(t) != rotated {
		t.Fatal("rotated keyring not applied")
	}
	ev := h.events[len(h.events)-1]
	if ev.Action != "reloaded" || len(ev.Versions) != 2 || ev.Versions[0] != 2 {
		t.Fatalf("event %+v", ev)
	}
}

func TestRunRechecksOnTrigger(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.w.o.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.w.Run(ctx) }()
	h.svc.set(nil, denied)
	h.w.Trigger()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, _ := h.w.State(); st == Withdrawn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Trigger did not recheck")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestAnOlderAnswerDoesNotUndoANewerRefusal: two rechecks at once (a
// SIGHUP's and the interval's, or a caller of Check) must be answered in
// the order they asked. The older one, slow to answer "ok", must not
// restore the keys after the newer one, asked later, was refused.
func TestAnOlderAnswerDoesNotUndoANewerRefusal(t *testing.T) {
	initial := ring(t, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls sync.Mutex
	n := 0
	revalidate := func(context.Context) (*keys.Keyring, error) {
		calls.Lock()
		n++
		first := n == 1
		calls.Unlock()
		if first {
			close(entered)
			<-release
			return initial, nil // asked before the revocation
		}
		return nil, denied
	}
	var mu sync.Mutex
	var applied []*keys.Keyring
	w, err := New(initial, Options{Revalidate: revalidate, Required: []string{"audit", "pii"},
		Apply: func(kr *keys.Keyring) { mu.Lock(); applied = append(applied, kr); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	older := make(chan State)
	go func() { older <- w.Check(context.Background()) }()
	<-entered
	newer := make(chan State)
	go func() { newer <- w.Check(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // let the newer recheck ask, if it can
	close(release)
	<-older
	<-newer
	if st, _ := w.State(); st != Withdrawn {
		t.Errorf("state %s after the newer recheck was refused, want withdrawn", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) == 0 || applied[len(applied)-1].Withdrawal() == nil {
		t.Errorf("the keys in use are not the withdrawn ones (%d applied)", len(applied))
	}
}
