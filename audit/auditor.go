package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// SQLState is the SQLSTATE (io_error) the proxy sends when it refuses a
// statement because Record failed.
const SQLState = pgerr.AuditUnavailable

// ErrUnavailable is matched (errors.Is) by every error Record and Healthy
// return: the record was not accepted and statements that touch PHI must
// be refused.
var ErrUnavailable = errors.New("audit log unavailable")

// UnavailableError says why the audit log does not accept records.
type UnavailableError struct {
	Reason string
	Since  time.Time
}

func (e *UnavailableError) Error() string {
	return "audit log unavailable since " + e.Since.UTC().Format(time.RFC3339) + ": " + e.Reason
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Options configure an Auditor. Key and Sink are required.
type Options struct {
	Instance string // defaults to the host name
	Key      MACKey
	Sink     Sink
	// QueueSize bounds the records between Record and the writer (default 65536).
	QueueSize int
	// MaxSQLBytes truncates normalized SQL (default 8192).
	MaxSQLBytes int
	// SyncInterval, when positive, syncs the sink that often.
	SyncInterval time.Duration
	// BatchDelay is how long the writer, woken by a record, lets more
	// records gather before it writes them (default 10ms; negative for
	// none). It saves a goroutine wake-up, a write and, with fsync per
	// write, an fsync per record under load; Record never waits for it.
	BatchDelay time.Duration
	// Checkpoint, when set, stores the chain head after every durable
	// write, apart from the sink, so Verify can tell a log cut at its end
	// (checkpoint.go). New refuses to resume a log that ends before it.
	Checkpoint CheckpointStore
	Alerts     AlertOptions
	// RetryMin and RetryMax bound the backoff between attempts to write to
	// a failing sink (defaults 50ms and 2s).
	RetryMin, RetryMax time.Duration
	Logger             *zap.Logger
	Registerer         prometheus.Registerer
	Now                func() time.Time // for tests
}

// DefaultBatchDelay is Options.BatchDelay's default.
const DefaultBatchDelay = 10 * time.Millisecond

// maxBatch bounds the records the writer takes from the queue for one write.
const maxBatch = 1024

const maxReasonBytes = 512

// item is what Record queues: the event as the caller built it and its
// time. Everything else (encoding, alerts, the MAC) is the writer's work,
// off the session's goroutine.
type item struct {
	ev   Event
	time time.Time
}

// Auditor turns events into chained records and writes them from one
// goroutine. Record is safe for concurrent use.
type Auditor struct {
	o   Options
	log *zap.Logger
	m   *metrics

	mu     sync.RWMutex // guards closed against sends on q
	closed bool
	q      chan item

	pending   atomic.Int64 // items in q plus reserved slots (reserve.go)
	unhealthy atomic.Pointer[UnavailableError]
	rejected  atomic.Uint64 // since the auditor last became unhealthy

	// writer state
	chain   *chain
	enc     encoder
	alerter *alerter
	tail    Tail
	cp      *checkpointer // nil without Options.Checkpoint
	stop    chan struct{} // closed when Close gives up waiting
	done    chan struct{}
	lost    uint64
}

// New resumes the sink's chain and starts the writer. The first record it
// writes is an audit_start naming the key and carrying, as prev_mac, the
// MAC of the last record the sink held (a restart) or nothing (a new log).
func New(o Options) (*Auditor, error) {
	if o.Sink == nil {
		return nil, errors.New("audit: no sink")
	}
	if o.Instance == "" {
		o.Instance, _ = os.Hostname()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 65536
	}
	if o.MaxSQLBytes <= 0 {
		o.MaxSQLBytes = 8192
	}
	if o.BatchDelay == 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 50 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(2*time.Second, o.RetryMin)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	tail, err := o.Sink.Resume()
	if err != nil {
		return nil, err
	}
	ch, err := newChain(o.Key, tail.Seq, tail.MAC)
	if err != nil {
		o.Sink.Close() // release what Resume took (a file sink's chain lock)
		return nil, err
	}
	if o.Checkpoint != nil {
		if err := checkResume(o.Checkpoint, o.Key, tail); err != nil {
			o.Sink.Close()
			return nil, err
		}
	}
	a := &Auditor{
		o:       o,
		log:     o.Logger.Named("audit"),
		q:       make(chan item, o.QueueSize),
		chain:   ch,
		enc:     encoder{maxSQL: o.MaxSQLBytes, maxReason: maxReasonBytes},
		alerter: newAlerter(o.Alerts),
		tail:    tail,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	a.m = newMetrics(o.Registerer, func() float64 { return float64(len(a.q)) }, o.QueueSize)
	a.cp = newCheckpointer(a)
	if tail.TornBytes > 0 {
		a.log.Warn("cut off a torn last record left by the previous run",
			zap.String("file", tail.File), zap.Int64("bytes", tail.TornBytes))
	}
	go a.run()
	return a, nil
}

// Record queues ev for writing. It never blocks: when the audit log is
// unhealthy or the queue is full it returns an error matching
// ErrUnavailable, counts the record as rejected, and the caller must
// refuse the statement if it touches PHI (SQLSTATE 58030). A nil error
// means the record is queued; the writer keeps retrying it until the sink
// takes it, so an accepted record is never dropped.
func (a *Auditor) Record(ev Event) error {
	if err := a.Healthy(); err != nil {
		a.reject("unhealthy")
		return err
	}
	return a.enqueue(ev, false)
}

// enqueue sends ev to the writer, into a slot already reserved or one it
// takes now.
func (a *Auditor) enqueue(ev Event, reserved bool) error {
	if ev == nil {
		panic("BUG: audit: Record(nil)")
	}
	t := eventTime(ev)
	if t.IsZero() {
		t = a.o.Now()
	}
	it := item{ev: ev, time: t}

	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		a.reject("closed")
		return &UnavailableError{Reason: "the auditor is closed", Since: a.o.Now()}
	}
	if !reserved && !a.take(1) {
		err := a.setUnhealthy(fmt.Sprintf("the queue of %d records is full: the sink is slower than the proxy", a.o.QueueSize))
		a.reject("queue_full")
		return err
	}
	a.q <- it // never blocks: the queue holds at most pending <= QueueSize items
	return nil
}

// Healthy returns nil while the audit log accepts records, otherwise an
// *UnavailableError saying why. It turns healthy again as soon as a write
// succeeds with room in the queue.
func (a *Auditor) Healthy() error {
	if u := a.unhealthy.Load(); u != nil {
		return u
	}
	return nil
}

func (a *Auditor) reject(reason string) {
	a.rejected.Add(1)
	a.m.rejected.WithLabelValues(reason).Inc()
}

// setUnhealthy records the first reason of an outage and returns the
// current error.
func (a *Auditor) setUnhealthy(reason string) error {
	u := &UnavailableError{Reason: reason, Since: a.o.Now()}
	if a.unhealthy.CompareAndSwap(nil, u) {
		a.m.healthy.Set(0)
		a.log.Error("audit log unavailable: statements that touch PHI are refused until it recovers", zap.String("reason", reason))
		return u
	}
	return a.unhealthy.Load()
}

// Close stops accepting records, writes every queued record and an
// audit_stop record, syncs and closes the sink. If ctx ends first (the sink
// is still failing), it counts the unwritten records as lost and returns
// an error saying how many.
func (a *Auditor) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.done
		return nil
	}
	a.closed = true
	close(a.q)
	a.mu.Unlock()
	select {
	case <-a.done:
	case <-ctx.Done():
		close(a.stop)
		<-a.done
	}
	err := a.o.Sink.Close()
	if a.lost > 0 {
		return fmt.Errorf("audit: %d records could not be written before shutdown: %w", a.lost, a.Healthy())
	}
	return err
}
