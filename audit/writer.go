package audit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// run is the writer goroutine: it seals records into the chain in queue
// order and writes them in batches, retrying a failing sink with backoff
// and leaving the queue to fill (so Record refuses) rather than dropping
// anything.
func (a *Auditor) run() {
	defer close(a.done)
	defer a.cp.close() // stores the last head before Close returns
	w := &batch{a: a}
	start := Entry{Event: EventAuditStart, KeyID: a.o.Key.ID, KeyVersion: a.o.Key.Version, TornTailBytes: a.tail.TornBytes, Reason: "new_log"}
	if a.tail.Seq > 0 {
		start.Reason = "restart"
	}
	w.addEntry(&start, a.o.Now())

	var tick <-chan time.Time
	if a.o.SyncInterval > 0 {
		t := time.NewTicker(a.o.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	open := true
	for {
		if len(w.lines) == 0 && open {
			select {
			case it, ok := <-a.q:
				if !ok {
					open = false
					break
				}
				w.add(it)
				a.linger()
			case <-tick:
				if err := a.o.Sink.Sync(); err != nil {
					a.writeFailed(err)
				} else {
					a.checkpoint() // everything sealed so far is written and now synced
					a.recovered(w) // a sync failure clears on the next good sync
				}
				if len(w.lines) == 0 {
					continue
				}
			}
		}
		for open && len(w.lines) < maxBatch {
			select {
			case it, ok := <-a.q:
				if !ok {
					open = false
					break
				}
				w.add(it)
				continue
			default:
			}
			break
		}
		if !open {
			// Drain what is left, then say the chain ended cleanly.
			for it := range a.q {
				w.add(it)
			}
			w.addEntry(&Entry{Event: EventAuditStop}, a.o.Now())
		}
		if !a.flush(w) {
			a.lost = uint64(len(w.lines))
			a.m.lost.Add(float64(a.lost))
			a.log.Error("audit records lost at shutdown: the sink never recovered", zap.Uint64("records", a.lost))
			return
		}
		a.checkpointWritten(!open)
		if !open {
			return
		}
	}
}

// checkpointWritten offers the head after a flush once it is durable: at
// once when the sink syncs every write (or never syncs), at the next
// periodic sync otherwise, and at shutdown after a last sync, so that the
// checkpoint never names a record a host crash could still take back.
func (a *Auditor) checkpointWritten(closing bool) {
	if a.o.SyncInterval <= 0 {
		a.checkpoint()
		return
	}
	if closing && a.o.Sink.Sync() == nil {
		a.checkpoint()
	}
}

// linger lets records gather after the first one of a batch woke the
// writer: for BatchDelay the writer is not parked on the queue, so a
// session's Record is a buffered channel send that wakes no goroutine,
// and the next write (and fsync) carries everything queued meanwhile.
// Nobody waits for a record to be written, so the delay costs no session
// any latency; it only bounds how many records a crash can take along.
func (a *Auditor) linger() {
	if a.o.BatchDelay <= 0 {
		return
	}
	t := time.NewTimer(a.o.BatchDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-a.stop:
	}
}

// flush writes w's lines, retrying until they are all written; false if
// Close gave up first.
func (a *Auditor) flush(w *batch) bool {
	backoff := a.o.RetryMin
	for {
		n, err := a.o.Sink.Write(w.lines)
		w.written(n)
		if err == nil {
			a.recovered(w)
			if len(w.lines) == 0 {
				w.reset()
				return true
			}
			continue // the recovery record
		}
		a.writeFailed(err)
		select {
		case <-a.stop:
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, a.o.RetryMax)
	}
}

func (a *Auditor) writeFailed(err error) {
	a.m.writeErrors.Inc()
	a.setUnhealthy("writing the audit sink failed: " + err.Error())
}

// recovered turns the auditor healthy after a successful write, once the
// queue has room again, and appends an audit_recovered record that says
// how many records Record refused during the outage.
func (a *Auditor) recovered(w *batch) {
	u := a.unhealthy.Load()
	if u == nil || a.pending.Load() >= int64(cap(a.q)) {
		return
	}
	if !a.unhealthy.CompareAndSwap(u, nil) {
		return
	}
	n := a.rejected.Swap(0)
	a.m.healthy.Set(1)
	a.log.Info("audit log available again", zap.String("was", u.Reason),
		zap.Duration("outage", a.o.Now().Sub(u.Since)), zap.Uint64("rejected_records", n))
	w.addEntry(&Entry{Event: EventAuditRecovered, Reason: u.Reason, Rejected: n}, a.o.Now())
}

// batch holds sealed lines not yet written, backed by one buffer.
type batch struct {
	a     *Auditor
	buf   []byte
	lines []Line
	evs   []string
	entry Entry // reused for every record, with its Subjects array
	// counters caches phiguard_audit_records_total by event name, so
	// counting a record does not hash its label.
	counters map[string]prometheus.Counter
}

// add encodes and seals one queued event, then any alert it triggers.
func (w *batch) add(it item) {
	w.a.pending.Add(-1) // it left the queue (reserve.go)
	e := &w.entry
	*e = Entry{Subjects: e.Subjects[:0]}
	it.ev.encode(e, &w.a.enc)
	w.addEntry(e, it.time)
	for _, al := range w.a.alerter.observe(alertInputOf(it.ev), it.time) {
		w.a.m.alerts.WithLabelValues(al.Alert).Inc()
		w.a.log.Warn("audit alert", zap.String("alert", al.Alert), zap.String("user", al.User),
			zap.Int64("count", al.Count), zap.Int64("threshold", al.Threshold))
		w.addEntry(&al, it.time)
	}
}

// addEntry seals e, stamped with t and the instance, into the batch.
func (w *batch) addEntry(e *Entry, t time.Time) {
	e.Time, e.Instance = formatTime(t), w.a.o.Instance
	start := len(w.buf)
	w.buf = w.a.chain.seal(w.buf, e)
	w.lines = append(w.lines, Line{Seq: w.a.chain.seq, B: w.buf[start:len(w.buf):len(w.buf)]})
	w.evs = append(w.evs, e.Event)
}

// written drops the first n lines, counting them.
func (w *batch) written(n int) {
	if n == 0 {
		return
	}
	if w.counters == nil {
		w.counters = make(map[string]prometheus.Counter)
	}
	size := 0
	for i := range n {
		c := w.counters[w.evs[i]]
		if c == nil {
			c = w.a.m.records.WithLabelValues(w.evs[i])
			w.counters[w.evs[i]] = c
		}
		c.Inc()
		size += len(w.lines[i].B)
	}
	w.a.m.bytes.Add(float64(size))
	w.lines = w.lines[n:]
	w.evs = w.evs[n:]
}

func (w *batch) reset() {
	w.buf, w.lines, w.evs = w.buf[:0], w.lines[:0], w.evs[:0]
}
