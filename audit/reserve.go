package audit

import "fmt"

// A statement that touches PHI must not run unless its record will be
// accepted: checking Healthy when the statement starts is not enough, since
// the queue can fill while it runs (other sessions keep recording), and its
// record, made when it ends, would then be refused after the PHI had been
// served. So the proxy reserves a queue slot before such a statement runs
// and records into that slot when it ends; a reserved record is always
// accepted.
//
// pending counts the queue's items plus the slots reserved and not yet
// used. It is raised before every send and lowered by the writer after
// every receive, so the queue never holds more than pending items and a
// send made within pending ≤ QueueSize never blocks.

// Reservation is a promise of room for records in the queue. Its zero
// value holds nothing.
type Reservation struct {
	a *Auditor
	n int
}

// Reserve promises room for n records. It fails, like Record, when the
// auditor is unhealthy, closed or full; the caller must then refuse the
// statement (SQLSTATE 58030).
func (a *Auditor) Reserve(n int) (Reservation, error) {
	if err := a.Healthy(); err != nil {
		a.reject("unhealthy")
		return Reservation{}, err
	}
	if !a.take(n) {
		err := a.setUnhealthy(fmt.Sprintf("the queue of %d records is full: the sink is slower than the proxy", a.o.QueueSize))
		a.reject("queue_full")
		return Reservation{}, err
	}
	return Reservation{a: a, n: n}, nil
}

// Held is how many records r still has room for.
func (r *Reservation) Held() int { return r.n }

// Record queues ev in one of r's slots; with none left it is Record. A
// reserved record is accepted even while the auditor is unhealthy: the
// statement it describes was admitted when the log could take it.
func (r *Reservation) Record(ev Event) error {
	if r.n == 0 || r.a == nil {
		if r.a == nil {
			return &UnavailableError{Reason: "BUG: record into a zero reservation"}
		}
		return r.a.Record(ev)
	}
	r.n--
	return r.a.enqueue(ev, true)
}

// Release gives back the slots r did not use (a statement that never ran).
func (r *Reservation) Release() {
	if r.a != nil && r.n > 0 {
		r.a.pending.Add(int64(-r.n))
	}
	r.n = 0
}

// take raises pending by n when the queue has room for it.
func (a *Auditor) take(n int) bool {
	if a.pending.Add(int64(n)) > int64(a.o.QueueSize) {
		a.pending.Add(int64(-n))
		return false
	}
	return true
}
