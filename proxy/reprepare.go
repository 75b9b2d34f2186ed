package proxy

import (
	"encoding/binary"

	"github.com/jackc/pgx/v5/pgproto3"
)

// A named statement whose text phiguard wrote a column list or a default
// guard into (fillColumnList, guardDefaults) checks, at each execution,
// that the catalog it was written from still holds (sqlrewrite's column
// and default guards). After another session's DDL the check fails with
// 40001, "run it again", and the session reads its catalog; but the
// statement's text is fixed at Parse, so running the same prepared
// statement again would fail the same way for as long as the client keeps
// it (pgjdbc's server-side statements, SQL-level pools). PostgreSQL itself
// re-plans a prepared statement after DDL. So phiguard does the same:
// at the next Bind of a statement whose guard failed, it closes the
// statement in the backend and prepares the client's original text again
// under the same name from the catalog as it is now, before the Bind, and
// keeps both answers to itself. The new Parse is planned like the
// client's own: a column list filled anew, or a refusal (a default now
// set on an encrypted column) that the client gets for its Bind.

// reprepared is what a Parse needs to be sent again: the client's text
// and declared parameter types, before phiguard's edits.
type reprepared struct {
	query string
	oids  []uint32
}

// markGuardFailed notes that the statement behind a failed Execute or
// Bind had its guard fail. Backend pump; the client pump reads the flag.
func (s *session) markGuardFailed(head *expectation) {
	var st *stmtInfo
	switch head.kind {
	case expExecute:
		if p := s.portals[head.name]; p != nil {
			st = p.stmt
		}
	case expBind:
		st = s.stmts[head.stmt]
	}
	if st != nil && st.again != nil {
		st.guardFailed.Store(true)
	}
}

// reprepareStale returns the Close and Parse that prepare the statement a
// Bind names again, when its guard failed (nil otherwise), and queues
// their expectations, which keep the answers from the client. Client
// pump, before the Bind's own expectation is queued.
func (s *session) reprepareStale(name string) ([]byte, error) {
	if name == "" {
		return nil, nil // the unnamed statement is prepared anew by the client
	}
	old, err := s.boundStatement(name)
	if err != nil || old == nil || old.again == nil || !old.guardFailed.Load() || !s.settledOutsideFailedTx() {
		return nil, err
	}
	s.log.Info("prepared statement prepared again: its column guard failed after DDL")
	closeX := s.expects.fresh(expClose)
	closeX.name, closeX.closeS, closeX.injected = name, true, true
	closeX.prep = s.noteClose(name)
	s.expects.push(closeX)
	out := binary.BigEndian.AppendUint32([]byte{feClose}, uint32(4+1+len(name)+1))
	out = append(append(append(out, 'S'), name...), 0)

	parse := pgproto3.Parse{Name: name, Query: old.again.query, ParameterOIDs: old.again.oids}
	body, err := parse.Encode(nil)
	if err != nil {
		return nil, err
	}
	body = body[5:]
	a, _ := s.srv.analyzer.Analyze([]byte(parse.Query))
	// The catalog was read at this Bind (awaitFreshCatalog). No request
	// of phiguard's own may go out while planning the Parse: its answer
	// would come before the Close's, which is queued first.
	s.atSegmentStart = false
	sent, err := s.protectParse(a, body, true)
	if err != nil {
		return nil, err
	}
	if sent == nil {
		sent = append(binary.BigEndian.AppendUint32([]byte{feParse}, uint32(4+len(body))), body...)
	}
	return append(out, sent...), nil
}

// settledOutsideFailedTx: every request so far is answered and the
// session's transaction is not aborted. Only then does phiguard prepare a
// statement again: in an aborted transaction PostgreSQL would run the
// Close and refuse the Parse (25P02), losing the statement, where the
// client's Bind alone fails and the statement stays; and with answers
// outstanding the transaction's state is not known yet. The Bind then
// runs the old statement (its guard fails again, 40001, or the
// transaction's error), and a later Bind prepares it again. Client pump.
func (s *session) settledOutsideFailedTx() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head == len(s.inflight) && s.txStatus != 'E'
}
