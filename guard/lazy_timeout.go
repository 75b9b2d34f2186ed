package guard

import (
	"context"
	"sync"
	"time"
)

// lazyTimeout is a context whose deadline starts when something first
// asks for it (Done, Err or Deadline), for the calls that touch the key
// store only on a cache miss: sealing or opening a cell sealed per
// subject. The subject key is nearly always cached, and
// context.WithTimeout's timer and allocations were about a third of the
// cost of opening such a cell. The timeout then bounds the key store
// request itself, from its start.
type lazyTimeout struct {
	timeout time.Duration
	once    sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
}

func newLazyTimeout(timeout time.Duration) *lazyTimeout {
	return &lazyTimeout{timeout: timeout}
}

func (l *lazyTimeout) started() context.Context {
	l.once.Do(func() { l.ctx, l.cancel = context.WithTimeout(context.Background(), l.timeout) })
	return l.ctx
}

func (l *lazyTimeout) Deadline() (time.Time, bool) { return l.started().Deadline() }
func (l *lazyTimeout) Done() <-chan struct{}       { return l.started().Done() }
func (l *lazyTimeout) Err() error                  { return l.started().Err() }
func (l *lazyTimeout) Value(any) any               { return nil }

// stop releases the timer, if it was started; a call that asks after it
// (a key store request outliving its caller) finds the context canceled.
func (l *lazyTimeout) stop() {
	l.once.Do(func() { l.ctx = canceledContext })
	if l.cancel != nil {
		l.cancel()
	}
}

// canceledContext is done from the start.
var canceledContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
