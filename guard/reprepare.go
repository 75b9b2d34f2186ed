package guard

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
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
// keeps the answers to itself; a named statement's text is tried first
// under a name of phiguard's (trialParse), so that a text that no longer
// analyses leaves the backend the old statement. The new Parse is planned like the
// client's own: a column list filled anew, or a refusal (a default now
// set on an encrypted column) that the client gets for its Bind.

// onBind sends the client's Bind, encrypted, behind what prepares its
// statement again (reprepareStale) or else a Describe that learns the
// statement's parameter types (describeForTypes, reprepare_types.go).
func (s *Session) onBind(_ byte, _ *sqlrewrite.Analysis) ([]byte, error) {
	body, err := s.cr.Body()
	if err != nil {
		return nil, err
	}
	var b boundNames
	portal, stmt, results, ok := bindSummary(body)
	if !ok {
		return nil, pgwire.Violation("malformed Bind message")
	}
	b.portal, b.stmt, b.results = s.bindNames.intern(portal), s.bindNames.intern(stmt), results
	again, err := s.reprepareStale(b.stmt) // before the Bind's expectation
	if err != nil {
		return nil, err
	}
	if again == nil {
		again = s.describeForTypes(b.stmt, body) // also before it
	}
	variant, err := s.bindVariant(b.stmt, body) // protect_search_variants.go, also before it
	if err != nil {
		return nil, err
	}
	again = append(again, variant...)
	revived, err := s.reviveVirtual(b.stmt) // plan_reuse_revive.go, also before it
	if err != nil {
		return nil, err
	}
	again = append(again, revived...)
	out, err := s.protectBind(body, b)
	if st, _ := s.boundStatement(b.stmt); st != nil {
		s.notePathChange(st.analysis) // catalog_path_follow.go: after its own checks
		s.noteDDL(st.analysis)        // catalog_epoch.go: a named statement of DDL bound again
	}
	if err == nil {
		out, err = s.sortedBind(body, out, b) // protect_sort.go
	}
	if err == nil {
		out, err = s.virtualBind(b, body, out) // plan_reuse.go
	}
	if err == nil {
		s.noteRoundBind(b, body, out) // protect_rounds.go
	}
	if err != nil || again == nil {
		return out, err
	}
	if out == nil {
		out = pgwire.Frame(pgwire.FeBind, body)
	}
	return append(again, out...), nil
}

// reprepared is what a Parse needs to be sent again: the client's text
// and declared parameter types, before phiguard's edits.
type reprepared struct {
	query string
	oids  []uint32
	// described are the parameter types the client was told when it
	// described the statement, or would have been told when phiguard
	// described it itself (backend pump; presentParameterTypes).
	// PostgreSQL fixes a statement's parameter types at its Parse and
	// keeps them when it re-plans; the re-Parse declares them, or
	// PostgreSQL would infer them anew from the changed table.
	described atomic.Pointer[[]uint32]
	// rows is whether a Describe of it answered with a result
	// (rowsUnknown, rowsNone, rowsSome; reprepare_unnamed.go).
	rows atomic.Int32
	// asked: phiguard described the unnamed statement before its own
	// read (client pump), once: the types PostgreSQL fixed do not change,
	// and the re-prepare behind the read closes it.
	asked bool
	// resultChanged: that Describe failed 0A000, the statement's
	// result no longer the one its Parse fixed (backend pump).
	resultChanged atomic.Bool
}

// types are the parameter types to declare in the re-Parse: the ones the
// client was told, else the ones it declared.
func (r *reprepared) types() []uint32 {
	if d := r.described.Load(); d != nil {
		return *d
	}
	return r.oids
}

// textHoldsGuard says whether the text a Parse sends under plan holds a
// check of the catalog it was planned on, which fails after DDL and
// has the statement prepared again at its next Bind (reprepare.go): a
// default guard, a sorted read's key sent as its value (sort_native.go),
// the collation and judges guards, a name sent qualified or a probe that
// inner items lack a name (catalog_qualified.go).
func (s *Session) textHoldsGuard(plan *sqlrewrite.Plan) bool {
	return len(plan.Defaults) > 0 || plan.Sort != nil && plan.Sort.SendsNative(s.nativeColumns()) ||
		len(s.collationChecks(plan)) > 0 || s.srv.cfg.Limits.JudgesGuard && writesEncrypted(plan) ||
		namesOf(plan).any()
}

// markGuardFailed notes that the statement behind a failed Execute or
// Bind had its guard fail. Backend pump; the client pump reads the flag.
func (s *Session) markGuardFailed(head *expectation) {
	if st := s.executedStatement(head); st != nil && st.again != nil {
		st.guardFailed.Store(true)
	}
}

// executedStatement is the prepared statement behind an Execute (its
// portal's) or a Bind, or nil. Backend pump.
func (s *Session) executedStatement(head *expectation) *stmtInfo {
	switch head.kind {
	case expExecute:
		if p := s.portals[head.name]; p != nil {
			return p.stmt
		}
	case expBind:
		return s.stmts[head.stmt]
	}
	return nil
}

// reprepareStale returns the Close and Parse that prepare the statement a
// Bind names again, when its guard failed (nil otherwise), and queues
// their expectations, which keep the answers from the client. Not an
// unnamed statement PostgreSQL dropped (a simple Query of the client's
// since, a failed Parse of the unnamed statement: stmtInfo.dropped),
// whose Bind PostgreSQL answers 26000 where a re-prepare ran the
// statement (TestReprepareUnnamedDroppedByQuery). Client pump, before
// the Bind's own expectation is queued.
func (s *Session) reprepareStale(name string) ([]byte, error) {
	old, err := s.boundStatement(name)
	if err != nil || old == nil || old.again == nil || !old.guardFailed.Load() || old.deallocated.Load() || old.dropped ||
		!old.unprepared.Load() && !s.settledOutsideFailedTx() {
		return nil, err
	}
	s.log.Info("prepared statement prepared again: its column guard failed after DDL")
	closeX := s.expects.fresh(expClose)
	closeX.name, closeX.closeS, closeX.injected = name, true, true
	closeX.prep = s.noteClose(name)
	// What the re-Parse replaces, for noteParse: if the backend fails it
	// (25P02 in an aborted transaction, an error in the client's text
	// against the table as it is now; not a refusal of phiguard's, below),
	// the old statement is the client's again. A named statement's text
	// is tried under trialName first (trialParse), so the Close does not
	// run and the backend keeps the old statement, as plain PostgreSQL
	// keeps the client's and re-plans it at each execution. Should the
	// Close run and the Parse behind it fail all the same (the unnamed
	// statement, whose Describe reprepare_unnamed.go answers then, or
	// DDL committed between the trial and the Parse), the
	// backend has no statement of that name, but the client's must not
	// turn into "does not exist" (26000): still marked failed, and
	// unprepared once the Close's CloseComplete is in (onCloseComplete),
	// it is prepared again at its next Bind (a Close of a name
	// PostgreSQL does not know is no error), settled or not
	// (settledOutsideFailedTx).
	s.clientStmts[name] = old
	s.expects.push(closeX)

	parse := pgproto3.Parse{Name: name, Query: old.again.query, ParameterOIDs: old.again.types()}
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
	if info := s.clientStmts[name]; info != nil && info.replacing != nil {
		info.replacing.reprepare = true // its failure drops no statement of the client's
	}
	if sent == nil {
		sent = pgwire.Frame(pgwire.FeParse, body)
	}
	sent = s.resultChangedRefusal(name, old, sent, a) // reprepare_unnamed.go
	closed := name
	if marker, ok := refusedParse(sent); ok && closeX.prep != nil && name != "" {
		// phiguard refuses the statement as it would be prepared now.
		// PostgreSQL fails the marker's Parse before it looks at the
		// name, so the Close goes to a name no statement has (answered
		// all the same) and the backend keeps the old statement (not the
		// unnamed one, which a Parse drops first, failed or not), as
		// plain PostgreSQL keeps the client's: an SQL DEALLOCATE or a
		// Describe of it finds it, a Bind in an aborted transaction
		// meets 25P02 (TestReprepareRefusedThenDeallocated, ...Described).
		closeX.prep.kept.Store(true) // a tomb: old is in clientStmts
		closed = marker
	} else if out, ok := s.trialParse(name, sent, closeX); ok {
		return out, nil
	}
	return append(closeStatement(closed), sent...), nil
}

// trialName is the name a re-prepare tries the client's text under
// before it closes the client's statement (trialParse). It starts with
// planPrefix, which a client's Parse, PREPARE or EXECUTE may not use
// (variantNameRefusal).
const trialName = planPrefix + "reprepare"

// trialParse returns what prepares the named statement again when the
// Parse phiguard planned (sent, its expectation queued behind closeX,
// the Close of the client's name) goes to the backend: the same Parse
// under trialName, then a Close of trialName and closeX's Close, then
// sent. A Close of trialName goes before the trial too: a
// statement of that name a function the client called PREPAREd (the
// client may not name one so itself) failed the trial with 42P05, where
// PostgreSQL runs the client's statement
// (TestReprepareTrialOwnNameBehindFunction); a Close of a name no
// statement has is no error. If the client's text fails as it analyses now (42804: a
// parameter's column became a date), the trial Parse fails, PostgreSQL
// skips the rest up to the client's Sync, the Bind too, and still holds
// the old statement, as it holds the client's: a Describe of it answers
// as PostgreSQL's does, an SQL DEALLOCATE drops it, a Bind in an aborted
// transaction meets 25P02, one behind a segment not yet answered the
// re-analysis error (TestReprepareFailedThen*). The trial's error is the
// client's Bind's, as the Parse's was. The trial's expectation carries
// the statement planned (prep) for what an error tells of it
// (onBackendError), but its ParseComplete settles nothing
// (onParseComplete). ok is false if sent is not one Parse, and for the
// unnamed statement: its guard failed, so the catalog is read before the
// Bind that prepares it again (bindReprepares), and that read, a simple
// Query then, dropped PostgreSQL's unnamed statement, leaving no old one
// for a failed trial to keep (and a virtual one, plan_reuse.go, lives
// under phiguard's name, not the unnamed one a trial would keep). The
// read no longer drops it (own_messages.go); the unnamed statement's
// re-prepare still closes it and learns what a Describe of it answers
// before the read instead (reprepare_unnamed.go). Client pump.
func (s *Session) trialParse(name string, sent []byte, closeX *expectation) (out []byte, ok bool) {
	if name == "" || len(sent) < 5 || sent[0] != pgwire.FeParse || int(binary.BigEndian.Uint32(sent[1:5]))+1 != len(sent) {
		return nil, false
	}
	_, rest, ok := pgwire.Cstring(sent[5:])
	info := s.clientStmts[name]
	if !ok || info == nil {
		return nil, false
	}
	trial := &expectation{kind: expParse, name: trialName, prep: info, analysis: info.analysis, start: time.Now(), injected: true, trial: true, answer: s.takeErrorPreface(true)}
	clear, drop := s.expects.fresh(expClose), s.expects.fresh(expClose)
	clear.name, clear.closeS, clear.injected = trialName, true, true
	drop.name, drop.closeS, drop.injected = trialName, true, true
	// The old statement is not described first to check that its result
	// is the one its Parse fixed: that Describe re-analyses phiguard's
	// text of it, whose lack probes and qualified names fail after the
	// very DDL that failed its guard (42702, 42703), and its error would
	// end the segment in the Bind's place where the trial's text, planned
	// on the catalog read again, runs (TestRedTeam37InnerGainsName,
	// TestRedTeam38DescribeAfterGain). So a result changed under
	// RETURNING * is a HOLE for a named statement
	// (TestReview39ResultChangedNamed).
	s.expects.insertBefore(closeX, clear, trial, drop)
	out = closeStatement(trialName)
	out = append(out, pgwire.Frame(pgwire.FeParse, append([]byte(trialName+"\x00"), rest...))...)
	out = append(out, closeStatement(trialName)...)
	out = append(out, closeStatement(name)...)
	return append(out, sent...), true
}

// closeStatement is a Close of the prepared statement name.
func closeStatement(name string) []byte {
	return pgwire.Frame(pgwire.FeClose, append(append([]byte{'S'}, name...), 0))
}

// refusedParse reports whether a Parse frame carries a refusal marker
// (markerParse, refuseAccess) for its text, and returns the marker.
func refusedParse(frame []byte) (string, bool) {
	if len(frame) < 5 || frame[0] != pgwire.FeParse {
		return "", false
	}
	_, rest, ok := pgwire.Cstring(frame[5:])
	if !ok {
		return "", false
	}
	text, _, ok := pgwire.Cstring(rest)
	if !ok || !bytes.HasPrefix(text, []byte(markerPrefix)) {
		return "", false
	}
	return string(text), true
}

// settledOutsideFailedTx: every request so far is answered and the
// session's transaction is not aborted. Only then does phiguard prepare a
// statement the backend still holds again: in an aborted transaction
// PostgreSQL would run the Close and refuse the Parse (25P02), losing the
// statement, where the client's Bind alone fails and the statement stays;
// and with answers outstanding the transaction's state is not known yet.
// The Bind then runs the old statement (its guard fails again, 40001, or
// the transaction's error), and a later Bind prepares it again.
//
// A statement an earlier re-prepare left unprepared (its Close ran, its
// Parse failed) is prepared again at every Bind, settled or not: there
// is no old statement to run, and its Bind alone answered 26000 where
// PostgreSQL, which still holds the client's statement, answers 25P02 in
// an aborted transaction, or runs it behind a pipelined segment not yet
// answered (TestReprepareRefusedThenPipelined,
// TestReprepareRefusedThenAbortedTransaction). Prepared again, the Parse
// meets the same state the Bind would: 25P02 in an aborted transaction,
// skipped after an earlier error in its segment. Client pump.
func (s *Session) settledOutsideFailedTx() bool {
	return s.wire.Settled()
}

// deallocated notes an SQL DEALLOCATE of name ("*": DEALLOCATE ALL or
// DISCARD ALL) that PostgreSQL ran: the client's statements it dropped
// are gone for the client too, and a later Bind of the name must meet
// PostgreSQL's 26000, not a statement phiguard prepares again because
// its guard failed before (TestReprepareAfterDeallocate: the INSERT ran).
// The unnamed statement and phiguard's own names are left to
// plan_reuse.go and protect_search_variants.go. Backend pump.
func (s *Session) deallocated(name string) {
	for n, st := range s.stmts {
		if st == nil || n == "" || strings.HasPrefix(n, planPrefix) || strings.HasPrefix(n, variantPrefix) {
			continue
		}
		if name == "*" || n == name {
			st.deallocated.Store(true)
		}
	}
}
