package audit

import (
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// checkpointer stores the chain head the writer offers, on a goroutine of
// its own so that the writer never waits for the second store. Offers
// that arrive while a store is under way collapse into the newest, so the
// checkpoint trails the log by at most one store's duration.
type checkpointer struct {
	store    CheckpointStore
	h        hash.Hash
	base     Checkpoint // instance and key
	now      func() time.Time
	log      *zap.Logger
	m        *metrics
	retryMin time.Duration
	retryMax time.Duration

	mu      sync.Mutex
	next    Checkpoint // Seq 0: nothing to store
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	stored  atomic.Uint64
	failing bool
}

func newCheckpointer(a *Auditor) *checkpointer {
	if a.o.Checkpoint == nil {
		return nil
	}
	c := &checkpointer{
		store:    a.o.Checkpoint,
		h:        checkpointMAC(a.o.Key.Secret),
		base:     Checkpoint{Instance: a.o.Instance, KeyID: a.o.Key.ID, KeyVersion: a.o.Key.Version},
		now:      a.o.Now,
		log:      a.log,
		m:        a.m,
		retryMin: a.o.RetryMin,
		retryMax: a.o.RetryMax,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go c.run()
	return c
}

// offer hands the head (seq and MAC of the last durable record) to the
// checkpointer.
func (c *checkpointer) offer(seq uint64, mac string) {
	if c == nil || seq == 0 {
		return
	}
	c.mu.Lock()
	if seq > c.next.Seq {
		c.next.Seq, c.next.MAC = seq, mac
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close stores the last offer (one attempt) and stops the goroutine.
func (c *checkpointer) close() {
	if c == nil {
		return
	}
	close(c.stop)
	<-c.done
}

func (c *checkpointer) run() {
	defer close(c.done)
	backoff := c.retryMin
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			c.storeNext()
			return
		}
		for !c.storeNext() {
			select {
			case <-time.After(backoff):
			case <-c.stop:
				c.storeNext()
				return
			}
			backoff = min(2*backoff, c.retryMax)
		}
		backoff = c.retryMin
	}
}

// storeNext stores the newest offer; false if the store failed (the offer
// stays pending unless a newer one arrived meanwhile).
func (c *checkpointer) storeNext() bool {
	c.mu.Lock()
	cp := c.next
	c.mu.Unlock()
	if cp.Seq == 0 || cp.Seq <= c.stored.Load() {
		return true
	}
	cp.Instance, cp.KeyID, cp.KeyVersion = c.base.Instance, c.base.KeyID, c.base.KeyVersion
	cp.Time = formatTime(c.now())
	if err := c.store.Store(sealCheckpoint(c.h, cp)); err != nil {
		c.m.checkpointErrors.Inc()
		if !c.failing {
			c.failing = true
			c.log.Error("storing the audit checkpoint failed: tail truncation of the log is not detectable past the last checkpoint until it works again",
				zap.String("checkpoint", c.store.Where()), zap.Uint64("checkpointed_seq", c.stored.Load()), zap.Error(err))
		}
		return false
	}
	if c.failing {
		c.failing = false
		c.log.Info("audit checkpoint stored again", zap.String("checkpoint", c.store.Where()), zap.Uint64("seq", cp.Seq))
	}
	c.stored.Store(cp.Seq)
	c.m.checkpointSeq.Set(float64(cp.Seq))
	return true
}

// Checkpointed returns the seq of the last checkpoint stored by this
// auditor (0 before the first, or without Options.Checkpoint).
func (a *Auditor) Checkpointed() uint64 {
	if a.cp == nil {
		return 0
	}
	return a.cp.stored.Load()
}

// checkpoint offers the chain head, which the caller knows is written
// (and synced, where the sink's durability comes from Sync).
func (a *Auditor) checkpoint() { a.cp.offer(a.chain.seq, a.chain.prev) }
