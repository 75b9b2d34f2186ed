package keywatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/phiguard/phiguard/keys"
)

// State is where the watcher stands with the key service.
type State string

// The states (see the package documentation).
const (
	Serving   State = "serving"
	Offline   State = "offline"
	Withdrawn State = "withdrawn"
)

// Event is a change the watcher reports: action "withdrawn", "restored"
// (serving again after offline or withdrawn) or "reloaded" (other keys
// than before). Reason is the service's error for "withdrawn"; it names
// operations and paths, never a token or key bytes.
type Event struct {
	Action   string
	KeyIDs   []string // the required key ids, with their write versions for "restored" and "reloaded"
	Versions []uint32
	Reason   string
}

// Options configure a Watcher. Revalidate and Apply are required.
type Options struct {
	// Revalidate loads every data key afresh from the provider.
	Revalidate func(context.Context) (*keys.Keyring, error)
	// Required are the key ids the policy and the audit trail need; a
	// keyring without one of them is a definite refusal (its record was
	// removed).
	Required []string
	// Interval between rechecks (default 30s); Grace is how long an
	// unanswered recheck leaves the keys in use (0: withdrawn at once);
	// Timeout bounds one recheck (default 10s).
	Interval, Grace, Timeout time.Duration
	// Apply receives every keyring to use from now on: a fresh one, or
	// keys.Withdrawn(reason). Called with the watcher's lock held, in
	// order.
	Apply func(*keys.Keyring)
	// Event, when set, is told of every change of state.
	Event func(Event)
	Log   *zap.Logger
	// Metrics, when set, is updated (NewMetrics).
	Metrics *Metrics
	Now     func() time.Time // for tests
}

// Watcher re-validates the keys on an interval. Safe for concurrent use.
type Watcher struct {
	o       Options
	trigger chan struct{}
	// checking makes rechecks one at a time: an older recheck slow to
	// answer "ok" must not restore the keys after a newer one was refused.
	checking sync.Mutex

	mu           sync.Mutex
	current      *keys.Keyring
	state        State
	offlineSince time.Time
	reason       error
}

// New returns a watcher whose keys in use are initial (just loaded: the
// state is serving).
func New(initial *keys.Keyring, o Options) (*Watcher, error) {
	if o.Revalidate == nil || o.Apply == nil || initial == nil {
		return nil, errors.New("keywatch: a keyring, Revalidate and Apply are required")
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &Watcher{o: o, trigger: make(chan struct{}, 1), current: initial, state: Serving}
	o.Metrics.setState(Serving)
	return w, nil
}

// Run rechecks every Interval, and at once after Trigger, until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.trigger:
		}
		w.Check(ctx)
	}
}

// Trigger asks Run for a recheck now (SIGHUP); it does not wait for it.
func (w *Watcher) Trigger() {
	select {
	case w.trigger <- struct{}{}:
	default: // one is already pending
	}
}

// Check rechecks now and returns the state it leads to. Concurrent calls
// run one at a time, so that the keys in use follow the answer asked for
// last.
func (w *Watcher) Check(ctx context.Context) State {
	w.checking.Lock()
	defer w.checking.Unlock()
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	kr, err := w.o.Revalidate(ctx)
	if err == nil {
		err = w.missing(kr)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.o.Metrics.recheck("ok")
		w.serve(kr)
	case keys.Definite(err):
		w.o.Metrics.recheck("refused")
		w.withdraw(err, "refused")
	default:
		w.o.Metrics.recheck("unavailable")
		w.unanswered(err)
	}
	return w.state
}

// missing is a definite refusal when kr lacks a required key id.
func (w *Watcher) missing(kr *keys.Keyring) error {
	var gone []string
	for _, id := range w.o.Required {
		if _, err := kr.WriteVersion(id); err != nil {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		return fmt.Errorf("%w: the key service no longer holds %s", keys.ErrUnknownKey, strings.Join(gone, ", "))
	}
	return nil
}

// serve puts kr in use when it differs from the keys in use or the keys
// were not serving. Callers hold w.mu.
func (w *Watcher) serve(kr *keys.Keyring) {
	was := w.state
	w.state, w.reason, w.offlineSince = Serving, nil, time.Time{}
	w.o.Metrics.setState(Serving)
	if was == Serving && w.current.SameKeys(kr) {
		return
	}
	w.current = kr
	w.o.Apply(kr)
	action := "reloaded"
	if was != Serving {
		action = "restored"
		w.o.Log.Warn("keys restored: the key service answers again", zap.String("was", string(was)))
	} else {
		w.o.Log.Info("keys reloaded: the key service holds other versions than before")
	}
	w.report(Event{Action: action}, kr)
}

// unanswered keeps the keys in use for the grace, then withdraws them.
// Callers hold w.mu.
func (w *Watcher) unanswered(err error) {
	now := w.o.Now()
	switch w.state {
	case Withdrawn:
		return // stays withdrawn until the service answers
	case Serving:
		w.state, w.offlineSince = Offline, now
		w.o.Metrics.setState(Offline)
		w.o.Log.Warn("the key service does not answer: serving from the keys in memory for the offline grace",
			zap.Duration("offline_grace", w.o.Grace), zap.Error(err))
	}
	if now.Sub(w.offlineSince) >= w.o.Grace {
		w.withdraw(fmt.Errorf("the key service has not answered for %s (offline grace %s): %w",
			now.Sub(w.offlineSince).Round(time.Second), w.o.Grace, err), "offline_grace")
	}
}

// withdraw drops the keys in use. Callers hold w.mu.
func (w *Watcher) withdraw(reason error, why string) {
	if w.state == Withdrawn {
		w.reason = reason
		return
	}
	w.state, w.reason = Withdrawn, reason
	w.current = keys.Withdrawn(reason)
	w.o.Apply(w.current)
	w.o.Metrics.setState(Withdrawn)
	w.o.Metrics.withdrawal(why)
	w.o.Log.Error("keys withdrawn: PHI statements are refused until the key service gives the keys back", zap.Error(reason))
	w.report(Event{Action: "withdrawn", Reason: reason.Error()}, nil)
}

func (w *Watcher) report(ev Event, kr *keys.Keyring) {
	if w.o.Event == nil {
		return
	}
	ev.KeyIDs = w.o.Required
	if kr != nil {
		for _, id := range w.o.Required {
			v, _ := kr.WriteVersion(id)
			ev.Versions = append(ev.Versions, v)
		}
	}
	w.o.Event(ev)
}

// State is the current state and, when withdrawn, why.
func (w *Watcher) State() (State, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state, w.reason
}

// Ready is nil unless the keys are withdrawn, for /readyz: serving from
// memory during an outage still serves correctly.
func (w *Watcher) Ready(context.Context) error {
	st, reason := w.State()
	if st == Withdrawn {
		return fmt.Errorf("keys withdrawn: %w", reason)
	}
	return nil
}
