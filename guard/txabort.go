package guard

import (
	"github.com/jackc/pgx/v5/pgproto3"
	"go.uber.org/zap"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
)

// An error PostgreSQL raises inside a transaction block aborts it: the
// next statement fails with 25P02 and COMMIT rolls back. An error
// phiguard raises itself after the backend ran the statement fine
// (failResult: a sort past limits.proxy_sort_rows, a collation refusal,
// a key it cannot read, a cell it cannot decrypt) would leave the
// backend's transaction in good state, its writes to be committed. So
// when the ReadyForQuery that ends such a request says 'T', the backend
// pump holds it back and has the client pump send a statement of
// phiguard's own that only fails (abortQuery); its error is swallowed and
// its ReadyForQuery ('E') goes to the client in place of the one held.
// From there PostgreSQL itself answers as after its own error: 25P02,
// ROLLBACK TO SAVEPOINT, COMMIT answered ROLLBACK.
//
// The abort must reach the backend right after the failed request and
// before anything else of the client's, else it could land in a later
// transaction. So it is sent only while the backend has no request of the
// client's unanswered (wantAbort and takeAbort check the queue under its
// lock) and never inside an extended-protocol segment. A client that
// pipelined requests behind the failed one, already sent when phiguard
// failed the result, gets them run as the backend ran them (the held
// ReadyForQuery is released as their answers arrive; inside a segment
// the client pump follows its messages with a Flush, so that an answer
// comes even if the client waits for the held one before its Sync);
// the abort follows
// the first of them the backend answers 'T' with no request queued
// behind it. Statements after the failed one in the same Query message
// or the same Sync segment have run too: in an implicit transaction
// (status 'I') their writes are committed, where PostgreSQL's error would
// have skipped them; README "Errors phiguard raises itself".

// abortQuery fails whatever the session's settings, search_path or
// objects, and changes nothing; the server's log line names phiguard.
// It is a Parse (the cast of a constant fails at parse analysis, so no
// statement is made; a statement of the client's by that name makes it
// fail too) and a Sync, not a simple Query, which would drop the
// client's unnamed statement and portal.
var abortQuery = abortMessages()

func abortMessages() []byte {
	msg, err := (&pgproto3.Parse{Name: "phiguard_abort",
		Query: `SELECT 'phiguard aborted this transaction after refusing a result'::pg_catalog.int4`}).Encode(nil)
	if err != nil {
		panic("BUG: phiguard's abort does not encode: " + err.Error())
	}
	return appendSync(msg) // own_messages.go
}

// ownKind reports whether an expectation is one of phiguard's own
// requests, whose answers the client never sees.
func ownKind(k expectKind) bool {
	switch k {
	case expCatalog, expObjects, expOutput, expColumns, expAbort, expTypes, expRecover:
		return true
	}
	return false
}

// wantAbort reports whether the backend has no request of the client's
// unanswered, and if so makes the abort due unless one is queued already.
// Backend pump, at a ReadyForQuery 'T' ending a failed request.
func (e *expectQueue) wantAbort() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	queued := false
	for _, x := range e.q[e.first:] {
		if !ownKind(x.kind) {
			return false
		}
		queued = queued || x.kind == expAbort
	}
	e.abortDue = !queued
	return true
}

// cancelAbort: the transaction ended; an abort not yet sent is not.
func (e *expectQueue) cancelAbort() {
	e.mu.Lock()
	e.abortDue = false
	e.mu.Unlock()
}

// takeAbort queues the abort's expectation when it is due and the backend
// still has no request of the client's unanswered. Client pump, outside
// a segment.
func (e *expectQueue) takeAbort() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.abortDue {
		return false
	}
	for _, x := range e.q[e.first:] {
		if !ownKind(x.kind) {
			return false
		}
	}
	e.abortDue = false
	e.q = append(e.q, &expectation{kind: expAbort})
	return true
}

func (e *expectQueue) isAbortDue() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.abortDue
}

// serveAbort sends the abort when it is due, or inside a segment a Flush
// (once per client message) so that the backend answers what the client
// sent and the backend pump releases the ReadyForQuery it holds. Client
// pump, before each client message and when woken.
func (s *Session) serveAbort() error {
	if s.midSegment {
		if s.abortFlushed || !s.expects.isAbortDue() {
			return nil
		}
		s.abortFlushed = true
		if _, err := s.bw.Write(pgwire.FlushMessage); err != nil {
			return err
		}
		return s.flushBackend()
	}
	if !s.expects.takeAbort() {
		return nil
	}
	if _, err := s.bw.Write(abortQuery); err != nil {
		return err
	}
	return s.flushBackend()
}

// abortWaitingLocked reports whether serveAbort has something to do, for
// the wire's wait for client input (AbortWaiting, under the wire's lock:
// the client pump, which owns midSegment and abortFlushed).
func (s *Session) abortWaitingLocked() bool {
	return (!s.midSegment || !s.abortFlushed) && s.expects.isAbortDue()
}

// noteSegment follows whether an extended-protocol segment is open
// (client pump, for each message forwarded).
func (s *Session) noteSegment(typ byte) {
	s.abortFlushed = false
	switch typ {
	case pgwire.FeParse, pgwire.FeBind, pgwire.FeDescribe, pgwire.FeExecute, pgwire.FeClose:
		s.midSegment = true
	case pgwire.FeSync, pgwire.FeQuery:
		s.midSegment = false
	}
}

// holdReady decides, at a ReadyForQuery ending a request phiguard failed
// (abortOwed), whether to hold it for the abort's. Backend pump.
func (s *Session) holdReady(status byte) bool {
	if !s.abortOwed {
		return false
	}
	if status != 'T' {
		// Aborted already ('E'), or no transaction block ('I').
		s.abortOwed = false
		s.expects.cancelAbort()
		return false
	}
	if !s.expects.wantAbort() {
		return false // pipelined requests first; see above
	}
	s.heldStatus = status
	s.wire.WakeClientPump()
	return true
}

// releaseHeld sends the client the ReadyForQuery held for an abort that
// another request's answer overtook. Backend pump.
func (s *Session) releaseHeld() error {
	status := s.heldStatus
	s.heldStatus = 0
	if _, err := s.cw.Write([]byte{pgwire.BeReadyForQuery, 0, 0, 0, 5, status}); err != nil {
		return err
	}
	if err := s.flushClient(); err != nil {
		return err
	}
	s.wire.FinishRequest(status)
	return nil
}

// abortAnswer takes the answer to abortQuery: its error is swallowed; its
// ReadyForQuery goes to the client in place of a held one (handled
// false: the pump forwards it), else it is swallowed too. Backend pump.
func (s *Session) abortAnswer(head *expectation, typ byte) (bool, error) {
	switch typ {
	case pgwire.BeErrorResponse:
		body, err := s.br.Body()
		if err != nil {
			return false, err
		}
		code, _ := pgwire.ErrorField(body, 'C')
		head.failed = pgerr.Code(code)
	case pgwire.BeReadyForQuery:
		body, err := s.br.Body()
		if err != nil {
			return false, err
		}
		if head.failed == "" {
			s.log.Warn("phiguard's statement to abort the transaction did not fail")
		} else {
			s.log.Info("transaction aborted after phiguard refused a result", zap.String("sqlstate", string(head.failed)))
		}
		s.expects.pop()
		s.abortOwed = false
		if len(body) == 1 && body[0] == 'I' {
			s.transactionEnded()
		}
		if s.heldStatus == 0 {
			return true, nil
		}
		s.heldStatus = 0
		return false, nil
	}
	return true, nil
}
