package guard

import (
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgwire"
	"go.uber.org/zap"
)

// The unnamed statement's re-prepare (reprepare.go) gets no trial: by
// the time it is prepared again the backend no longer holds it. Its guard
// failed (40001), which marks the catalog stale, and the catalog is read
// before the Bind that prepares it again (bindReprepares) with a simple
// Query, which drops PostgreSQL's unnamed statement; a trial Parse that
// fails cannot leave the backend an old statement it no longer has. So
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
// while the backend still holds it, just before phiguard's own simple
// Query drops it (typesBeforeOwnQuery): a Describe and a Sync in front of
// that Query, answered to phiguard alone (expTypes). They go only for the
// client's unnamed statement whose guard failed, which is prepared again
// at its next Bind, and only once for it; every other unnamed statement,
// the hot path of clients that Parse before each Bind, costs nothing: no
// message, no round trip (the two ride with the Query phiguard sends and
// waits for anyway). Then:
//   - the re-Parse declares the types the Describe answered
//     (reprepared.described), as PostgreSQL keeps the ones it fixed;
//   - a client's Describe of the statement after its re-Parse failed
//     (unprepared), when it has no result, is answered by phiguard: a
//     Close of trialName (no statement of the name: no error, in an
//     aborted transaction too, skipped with the rest of a failed segment
//     as the Describe would be) stands in for it, and its CloseComplete is
//     replaced by ParameterDescription with the types and NoData
//     (describeUnprepared).
//
// Only outside a transaction block and with every request answered: the
// Sync then ends no transaction of the client's, and an error answering
// the Describe (a statement with a result whose re-analysis fails, one
// the backend dropped in a way phiguard did not follow) aborts none. In
// a transaction block, or for a statement with a result (whose Describe
// PostgreSQL answers after analysing it again), the limit stays: the
// types are inferred anew, and a Describe after a failed re-Parse meets
// 26000.

// Whether a Describe of a statement answered with a result: unknown
// until one did.
const (
	rowsUnknown int32 = iota
	rowsNone          // NoData
	rowsSome          // RowDescription
)

// typesBeforeOwnQuery queues, ahead of phiguard's own simple Query, a
// Describe of the client's unnamed statement and a Sync, when that Query
// would drop a statement phiguard is to prepare again without knowing
// what its Describe answers. Client pump, before ownRequest's expectation
// and message.
func (s *Session) typesBeforeOwnQuery() {
	st := s.clientStmts[""]
	if st == nil || st.again == nil || !st.guardFailed.Load() || st.unprepared.Load() || st.deallocated.Load() ||
		st.replacing != nil || st.closed || st.dropped || st.virt != nil ||
		st.again.described.Load() != nil && st.again.rows.Load() != rowsUnknown ||
		s.readyStatus.Load() != 'I' || !s.wire.Settled() {
		return
	}
	s.expects.push(&expectation{kind: expTypes, prep: st})
	_, _ = s.bw.Write(pgwire.Frame(pgwire.FeDescribe, []byte{'S', 0}))
	_, _ = s.bw.Write([]byte{pgwire.FeSync, 0, 0, 0, 4}) // a write error is ownRequest's to see
}

// typesAnswer consumes the answer to typesBeforeOwnQuery's Describe and
// Sync: the parameter types as the client is told them, and whether the
// statement has a result. An error (the statement has a result whose
// re-analysis fails) leaves them unknown. Backend pump.
func (s *Session) typesAnswer(head *expectation, typ byte) (bool, error) {
	st := head.prep
	switch typ {
	case pgwire.BeParameterDescription:
		if _, err := s.presentParameterTypes(st, true); err != nil {
			return true, err
		}
	case pgwire.BeNoData:
		st.again.rows.Store(rowsNone)
	case pgwire.BeRowDescription:
		st.again.rows.Store(rowsSome)
	case pgwire.BeErrorResponse:
		body, err := s.br.Body()
		if err != nil {
			return true, err
		}
		code, _ := pgwire.ErrorField(body, 'C')
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

// describeUnprepared turns the client's Describe of a statement whose
// re-Parse failed, and which has no result, into a Close of trialName
// whose answer is the Describe's as PostgreSQL gives it from the
// statement it still holds: ParameterDescription with the types it
// fixed, NoData. x is the Describe's expectation, not yet queued; nil
// when the Describe goes as it is. Client pump.
func (s *Session) describeUnprepared(x *expectation, st *stmtInfo) []byte {
	if st == nil || st.again == nil || !st.unprepared.Load() || st.deallocated.Load() || st.again.rows.Load() != rowsNone {
		return nil
	}
	types := st.again.described.Load()
	if types == nil {
		return nil
	}
	answer, err := (&pgproto3.ParameterDescription{ParameterOIDs: *types}).Encode(nil)
	if err != nil {
		return nil
	}
	x.kind, x.name, x.closeS, x.injected = expClose, trialName, true, true
	x.answer = append(answer, pgwire.BeNoData, 0, 0, 0, 4)
	s.expects.push(x)
	return closeStatement(trialName)
}
