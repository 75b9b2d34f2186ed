package guard

import (
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// The unnamed statement's re-prepare (reprepare.go) gets no trial: its
// Close and Parse drop the backend's statement first. Its guard failed
// (40001), which marks the catalog stale, and the catalog is read before
// the Bind that prepares it again (bindReprepares); that read was a
// simple Query, which dropped PostgreSQL's unnamed statement, so that a
// trial could have kept no old statement. phiguard's reads no longer drop
// it (own_messages.go); the design below stays. So
// when the client's text fails as it analyses now (42804: a parameter's
// column became a date), the backend holds no unnamed statement while
// PostgreSQL, which re-analyses at each Bind, still holds the client's:
// its Bind fails the same way each time (phiguard prepares it again at
// each, settled or not, and fails the same way), but a Describe of it
// answers ParameterDescription and, for a statement without a result,
// NoData, without analysing it again; the backend would answer 26000.
// And the types: phiguard's re-Parse declares the parameter types the
// client was told (reprepare_types.go), which it does not know for an
// unnamed statement the client Parsed with a type left unspecified and
// never described: inferred anew from the changed table, $1 became a date
// (22007 for '9' where PostgreSQL answers 42804).
//
// Both are met by learning what a Describe of the statement answers
// while the backend still holds it, just before phiguard's own read ahead
// of its re-prepare (typesBeforeOwnQuery): a Describe and a Sync in front
// of that read, answered to phiguard alone (expTypes). They go only for the
// client's unnamed statement whose guard failed, which is prepared again
// at its next Bind, and only once for it; every other unnamed
// statement, the hot path of clients that Parse before each Bind, costs
// nothing: no message, no round trip (the two ride with the read
// phiguard sends and waits for anyway). Then:
//   - the re-Parse declares the types the Describe answered
//     (reprepared.described), as PostgreSQL keeps the ones it fixed;
//   - a client's Describe of the statement after its re-Parse failed
//     (unprepared) is answered as PostgreSQL answers it
//     (describeUnprepared);
//   - a statement whose result the Describe found changed (0A000, a
//     column added under RETURNING *) is not prepared again with the
//     new result: its re-Parse is a refusal of that code, as PostgreSQL
//     fails its Binds (resultChangedRefusal). So a statement with a
//     result is described even when its types and result are known.
//
// Only outside a transaction block, once every request ahead is
// answered (answeredAhead): the Sync then ends no transaction of the
// client's, and an error answering the Describe (a statement with a result whose re-analysis fails, one
// the backend dropped in a way phiguard did not follow) aborts none. In
// a transaction block the limit stays: a type left unspecified is
// inferred anew, and a Describe after a failed re-Parse meets 26000 (as
// it does for a statement phiguard prepares under a name of its own,
// plan_reuse.go, or a client's Parse of the unnamed statement whose
// answer had not come when the guard's read went out).

// Whether a Describe of a statement answered with a result: unknown
// until one did.
const (
	rowsUnknown int32 = iota
	rowsNone          // NoData
	rowsSome          // RowDescription
)

// typesBeforeOwnQuery queues, ahead of phiguard's own read, a Describe
// of the client's unnamed statement and a Sync, when phiguard is to
// prepare the statement again (closing it first) without knowing what
// its Describe answers. Client pump, before ownRequest's expectation and
// message.
func (s *Session) typesBeforeOwnQuery() {
	st := s.clientStmts[""]
	if !describedBeforeRead(st) || !s.answeredAhead() || s.readyStatus.Load() != 'I' {
		return
	}
	st.again.asked = true
	s.expects.push(&expectation{kind: expTypes, prep: st})
	_, _ = s.bw.Write(pgwire.Frame(pgwire.FeDescribe, []byte{'S', 0}))
	_, _ = s.bw.Write([]byte{pgwire.FeSync, 0, 0, 0, 4}) // a write error is ownRequest's to see
}

// describedBeforeRead says whether the client's unnamed statement st is
// one phiguard's re-prepare would drop with something left to learn: its
// guard failed, the backend still holds it (not unprepared, replaced,
// closed, dropped or virtual), and it was not asked before; either its
// types are unknown, or it has a result, which may have changed
// (typesAnswer).
func describedBeforeRead(st *stmtInfo) bool {
	if st == nil || st.again == nil || st.again.asked || !st.guardFailed.Load() || st.unprepared.Load() || st.deallocated.Load() ||
		st.replacing != nil || st.closed || st.dropped || st.virt != nil {
		return false
	}
	return st.again.described.Load() == nil || st.again.rows.Load() != rowsNone
}

// typesAnswer consumes the answer to typesBeforeOwnQuery's Describe and
// Sync: the parameter types as the client is told them, and whether the
// statement has a result; an error after the types (the statement has a
// result, whose re-analysis fails) says it has. Backend pump.
func (s *Session) typesAnswer(head *expectation, typ byte) (bool, error) {
	st := head.prep
	switch typ {
	case pgwire.BeParameterDescription:
		head.paramsSent = true
		if _, err := s.presentParameterTypes(st, true); err != nil {
			return true, err
		}
	case pgwire.BeNoData:
		st.again.rows.Store(rowsNone)
	case pgwire.BeRowDescription:
		st.again.rows.Store(rowsSome)
	case pgwire.BeErrorResponse:
		if head.paramsSent {
			// PostgreSQL analyses the statement again after its
			// ParameterDescription only for its result.
			st.again.rows.Store(rowsSome)
		}
		body, err := s.br.Body()
		if err != nil {
			return true, err
		}
		code, _ := pgwire.ErrorField(body, 'C')
		if head.paramsSent && string(code) == string(pgerr.FeatureNotSupported) {
			// "cached plan must not change result type": PostgreSQL
			// fails each Bind of the statement so (resultChangedRefusal).
			st.again.resultChanged.Store(true)
		}
		s.log.Debug("phiguard's Describe of the unnamed statement failed", zap.String("sqlstate", string(code)))
	case pgwire.BeReadyForQuery:
		s.expects.pop()
	}
	return true, nil
}

// noteRows records, for a statement phiguard may prepare again, whether
// a Describe of it answered with a result. Backend pump.
func (s *Session) noteRows(head *expectation, rows int32) {
	if head.kind != expDescribeStmt {
		return
	}
	if st := s.stmts[head.name]; st != nil && st.again != nil {
		st.again.rows.Store(rows)
	}
}

// describeUnprepared answers the client's Describe of a statement whose
// re-Parse failed (the backend holds none of the name) as PostgreSQL
// answers it from the statement it still holds: ParameterDescription
// with the types it fixed, then, without a result, NoData; with one,
// what analysing it again answers, RowDescription or its error. x is the
// Describe's expectation, not yet queued; nil when the Describe goes as
// it is (the types or the result not known). Client pump.
//
// The ParameterDescription is the answer of a Close of trialName (a name
// no statement has: no error, in an aborted transaction too, skipped
// with the rest of a failed segment as the Describe would be) standing
// in for the Describe. Without a result that is all. With one, the
// statement is prepared again (reprepareStale) and the Describe follows,
// its ParameterDescription kept (paramsSent): a re-Parse that fails
// gives the error PostgreSQL's re-analysis gives, and the Describe is
// skipped. Only with every request answered outside an aborted
// transaction (Settled); else the types go before the re-Parse's error
// but 25P02, which PostgreSQL answers in an aborted transaction before
// the types (errorPreface).
func (s *Session) describeUnprepared(x *expectation, st *stmtInfo) ([]byte, error) {
	if st == nil || st.again == nil || !st.unprepared.Load() || !st.guardFailed.Load() || st.deallocated.Load() || st.dropped {
		return nil, nil
	}
	types, rows := st.again.described.Load(), st.again.rows.Load()
	if types == nil || rows == rowsUnknown {
		return nil, nil
	}
	answer, err := (&pgproto3.ParameterDescription{ParameterOIDs: *types}).Encode(nil)
	if err != nil {
		return nil, err
	}
	var out []byte
	if rows == rowsNone || s.wire.Settled() {
		stand := s.expects.fresh(expClose)
		stand.name, stand.closeS, stand.injected, stand.answer = trialName, true, true, answer
		if rows == rowsNone {
			stand.answer = append(answer, pgwire.BeNoData, 0, 0, 0, 4)
		}
		s.expects.push(stand)
		out = closeStatement(trialName)
	}
	if rows == rowsNone {
		return out, nil // x is not queued: fresh's spare goes with the garbage
	}
	if out == nil {
		// Requests unanswered: one may abort the transaction, where
		// PostgreSQL answers 25P02 before the types and the stand-in
		// would answer them. The types go before the re-Parse's error
		// instead, unless it is 25P02 (errorPreface); a re-Parse that
		// runs leaves the Describe its own (TestReview39ReturningPipelined).
		s.preface = answer
	}
	again, err := s.reprepareStale(x.name) // goes, after the checks above
	s.preface = nil
	if err != nil {
		return nil, err
	}
	x.paramsSent = out != nil
	s.expects.push(x)
	return append(append(out, again...), pgwire.Frame(pgwire.FeDescribe, append(append([]byte{'S'}, x.name...), 0))...), nil
}

// takeErrorPreface is what an injected Parse being queued is to send the
// client before its error (describeUnprepared, which clears it after;
// a named statement's trial Parse takes it too: its error comes first).
// Client pump.
func (s *Session) takeErrorPreface(injected bool) []byte {
	if !injected {
		return nil
	}
	return s.preface
}

// errorPreface sends the client, before the error answering phiguard's
// re-Parse in place of its Describe, the ParameterDescription PostgreSQL
// sends before it re-analyses the statement for its result; not before
// 25P02, which an aborted transaction answers first. Backend pump.
func (s *Session) errorPreface(head *expectation, body []byte) error {
	if head.kind != expParse || head.answer == nil || s.suppress {
		return nil
	}
	if code, _ := pgwire.ErrorField(body, 'C'); string(code) == "25P02" {
		return nil
	}
	_, err := s.cw.Write(head.answer)
	return err
}

// resultChangedRefusal returns, in place of sent, the re-Parse of the
// unnamed statement whose result phiguard's Describe found changed
// (typesAnswer: a column added under RETURNING *), a Parse that fails
// as PostgreSQL fails the Bind, 0A000: PostgreSQL keeps the result the
// client's Parse fixed, where the re-Parse would fix it anew and run the
// statement (TestReview39ResultChanged). A change after that Describe
// is not seen. Client pump.
func (s *Session) resultChangedRefusal(name string, old *stmtInfo, sent []byte, a *sqlrewrite.Analysis) []byte {
	if name != "" || !old.again.resultChanged.Load() {
		return sent
	}
	return s.markerParse(name, pgerr.Newf(pgerr.FeatureNotSupported, "cached plan must not change result type"), a)
}

// answeredAhead waits, bounded, until every request ahead is answered
// (the expectation queue empty), so that the status of the last
// ReadyForQuery is the backend's now: a Bind behind a pipelined Sync
// not yet answered gets the Describe too (TestReview39UnsettledRead:
// without it the re-Parse inferred $1 anew, 22007 for 42804). The wait
// costs what the catalog read behind it waits anyway, those answers
// first. Client pump.
func (s *Session) answeredAhead() bool {
	if s.expects.head() == none {
		return true
	}
	if err := s.flushBackend(); err != nil {
		return false
	}
	// Polled: no signal says the queue emptied, and this runs only for a
	// statement whose guard failed.
	deadline := time.NewTimer(freshCatalogWait)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.expects.head() != none {
		select {
		case <-s.backendDone:
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}
