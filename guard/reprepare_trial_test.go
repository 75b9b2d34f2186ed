package guard

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/internal/pgwire/pgwiretest"
)

// trialSession queues a re-prepare of the statement "ins" as
// reprepareStale does (the Close of the name, the Parse planned), then
// the trial (trialParse), the client's Bind and Sync; it returns the
// frames trialParse sends and the old and new statements.
func trialSession(t *testing.T, bs *bytes.Buffer) (s *Session, sent []byte, old, info *stmtInfo, client *bytes.Buffer) {
	t.Helper()
	s, old, client = typesSession(t, bs)
	closeX := s.expects.fresh(expClose)
	closeX.name, closeX.closeS, closeX.injected = "ins", true, true
	closeX.prep = s.noteClose("ins")
	s.clientStmts["ins"] = old
	s.expects.push(closeX)
	info = &stmtInfo{filled: true}
	s.noteParse("ins", info)
	s.expects.push(&expectation{kind: expParse, name: "ins", prep: info, injected: true})
	parse := pgwiretest.Encode(t, &pgproto3.Parse{Name: "ins", Query: "INSERT INTO t (id, s) VALUES ($1, $2)", ParameterOIDs: []uint32{23, 25}})
	sent, ok := s.trialParse("ins", parse, closeX)
	if !ok {
		t.Fatal("trialParse declined a named statement's Parse")
	}
	want := pgwiretest.Encode(t, &pgproto3.Close{ObjectType: 'S', Name: trialName}, &pgproto3.Parse{Name: trialName, Query: "INSERT INTO t (id, s) VALUES ($1, $2)", ParameterOIDs: []uint32{23, 25}},
		&pgproto3.Close{ObjectType: 'S', Name: trialName}, &pgproto3.Close{ObjectType: 'S', Name: "ins"})
	if want = append(want, parse...); !bytes.Equal(sent, want) {
		t.Fatalf("sent\n%q\nwant\n%q", sent, want)
	}
	s.expects.push(&expectation{kind: expBind, stmt: "ins"})
	s.expects.push(&expectation{kind: expSync})
	s.noteSync()
	return s, sent, old, info, client
}

// TestTrialParseFailedKeepsOld: the trial Parse fails (42804): the
// client gets the error once, in its Bind's place; the rest up to the
// Sync is skipped, so the backend and phiguard keep the old statement
// (its Close never ran), which is not marked unprepared. Without the
// trial the Close ran first and the backend held no statement.
func TestTrialParseFailedKeepsOld(t *testing.T) {
	e := &pgproto3.ErrorResponse{Severity: "ERROR", Code: "42804", Message: "column \"id\" is of type date but expression is of type integer"}
	s, _, old, _, client := trialSession(t, backendStream(t, &pgproto3.CloseComplete{}, e, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
	feed(t, s) // the Close of the trial's name
	feed(t, s)
	if x := s.expects.head(); x.kind != expSync {
		t.Fatalf("after the error the queue is at %v, want the Sync", x.kind)
	}
	feed(t, s)
	if want := pgwiretest.Encode(t, e, &pgproto3.ReadyForQuery{TxStatus: 'I'}); !bytes.Equal(client.Bytes(), want) {
		t.Errorf("the client got\n%q\nwant\n%q", client.Bytes(), want)
	}
	if got, err := s.boundStatement("ins"); err != nil || got != old {
		t.Errorf("the client's statement is %p (%v), want the old one %p", got, err, old)
	}
	if s.stmts["ins"] != old || old.unprepared.Load() {
		t.Errorf("the backend's statement: %p, unprepared %v; want the old one %p, prepared", s.stmts["ins"], old.unprepared.Load(), old)
	}
	if !s.catalogStale.Load() {
		t.Error("the failed Parse of a filled column list did not mark the catalog stale")
	}
}

// TestTrialParseSucceeded: the trial's ParseComplete settles nothing;
// once every answer is in, the new statement stands under the name, the
// trial's name under none, and the client got only its BindComplete.
func TestTrialParseSucceeded(t *testing.T) {
	bs := backendStream(t, &pgproto3.CloseComplete{}, &pgproto3.ParseComplete{}, &pgproto3.CloseComplete{}, &pgproto3.CloseComplete{},
		&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	s, _, _, info, client := trialSession(t, bs)
	feed(t, s) // the Close of the trial's name
	feed(t, s)
	select {
	case <-info.replacing.settled:
		t.Fatal("the trial's ParseComplete settled the statement's Parse")
	default:
	}
	if _, ok := s.stmts[trialName]; ok {
		t.Error("the trial's name was recorded as a statement")
	}
	for range 5 {
		feed(t, s)
	}
	if got, err := s.boundStatement("ins"); err != nil || got != info || s.stmts["ins"] != info {
		t.Errorf("the statement is %p (%v), the backend's %p; want the new one %p", got, err, s.stmts["ins"], info)
	}
	if want := pgwiretest.Encode(t, &pgproto3.BindComplete{}, &pgproto3.ReadyForQuery{TxStatus: 'I'}); !bytes.Equal(client.Bytes(), want) {
		t.Errorf("the client got %q, want only BindComplete and ReadyForQuery", client.Bytes())
	}
}

// TestTrialParseDeclined: the unnamed statement, and anything but one
// Parse, go without a trial.
func TestTrialParseDeclined(t *testing.T) {
	s, _, _ := typesSession(t, new(bytes.Buffer))
	x := s.expects.fresh(expClose)
	parse := pgwiretest.Encode(t, &pgproto3.Parse{Name: "", Query: "SELECT 1"})
	if _, ok := s.trialParse("", parse, x); ok {
		t.Error("the unnamed statement got a trial")
	}
	two := append(pgwiretest.Encode(t, &pgproto3.Parse{Name: "ins", Query: "SELECT 1"}), pgwire.Frame(pgwire.FeClose, []byte("Sins\x00"))...)
	if _, ok := s.trialParse("ins", two, x); ok {
		t.Error("two frames got a trial")
	}
}

// unnamedSession is a session holding the client's unnamed statement,
// Parsed without parameter types, whose guard failed: phiguard prepares
// it again at its next Bind.
func unnamedSession(t *testing.T, bs *bytes.Buffer) (*Session, *stmtInfo, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	s, client, backend := abortSession(t, bs)
	st := &stmtInfo{filled: true, again: &reprepared{query: "INSERT INTO t VALUES ($1, $2)"}}
	st.guardFailed.Store(true)
	s.clientStmts = map[string]*stmtInfo{"": st}
	s.stmts[""] = st
	s.readyStatus.Store('I')
	return s, st, client, backend
}

// TestTypesBeforeOwnQueryWhen: ahead of phiguard's own simple Query,
// which drops the unnamed statement, phiguard describes it only when it
// is to prepare it again, does not know its types or whether it has a
// result, and no transaction block is open; never for a statement
// whose guard did not fail, the hot path of an unnamed INSERT.
func TestTypesBeforeOwnQueryWhen(t *testing.T) {
	s, st, _, backend := unnamedSession(t, new(bytes.Buffer))
	s.typesBeforeOwnQuery()
	s.bw.Flush()
	if want := pgwiretest.Encode(t, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}); !bytes.Equal(backend.Bytes(), want) {
		t.Fatalf("sent %q, want %q", backend.Bytes(), want)
	}
	if x := s.expects.head(); x.kind != expTypes || x.prep != st {
		t.Fatalf("expectation %+v, want phiguard's Describe of the unnamed statement", x)
	}
	s.expects.pop()
	if s.typesBeforeOwnQuery(); s.expects.head() != none {
		t.Error("described twice: the first Query dropped it from the backend")
	}
	for _, c := range []struct {
		what string
		set  func()
	}{
		{"its guard did not fail", func() { st.guardFailed.Store(false) }},
		{"in a transaction block", func() { s.readyStatus.Store('T') }},
		{"in an aborted one", func() { s.readyStatus.Store('E') }},
		{"types and result known", func() { st.again.described.Store(&[]uint32{23, 25}); st.again.rows.Store(rowsNone) }},
		{"the backend holds none (unprepared)", func() { st.unprepared.Store(true) }},
		{"a simple Query dropped it", func() { s.endVirtual() }},
		{"it lives under a name of phiguard's", func() { st.virt = &virtualPlan{info: st} }},
		{"no unnamed statement", func() { s.clientStmts = map[string]*stmtInfo{"ins": st} }},
	} {
		s2, st2, _, backend2 := unnamedSession(t, new(bytes.Buffer))
		s, st = s2, st2
		c.set()
		s.typesBeforeOwnQuery()
		s.bw.Flush()
		if backend2.Len() != 0 || s.expects.head() != none {
			t.Errorf("%s: sent %q", c.what, backend2.Bytes())
		}
	}
}

// TestTypesAnswer: the answer to phiguard's own Describe and Sync
// teaches the types as the client is told them and that the statement
// has no result, and reaches the client not at all; an error answering
// it teaches nothing, unless it follows the types: then it is the
// re-analysis of a statement with a result.
func TestTypesAnswer(t *testing.T) {
	bs := backendStream(t, &pgproto3.ParameterDescription{ParameterOIDs: []uint32{23, 25}}, &pgproto3.NoData{}, &pgproto3.ReadyForQuery{TxStatus: 'I'},
		&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42804"}, &pgproto3.ReadyForQuery{TxStatus: 'I'},
		&pgproto3.ParameterDescription{ParameterOIDs: []uint32{23, 25}}, &pgproto3.ErrorResponse{Severity: "ERROR", Code: "42804"}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	s, st, client, _ := unnamedSession(t, bs)
	s.typesBeforeOwnQuery()
	for range 3 {
		if _, handled := feed(t, s); !handled {
			t.Fatal("an answer to phiguard's Describe went to the client")
		}
	}
	if d := st.again.described.Load(); d == nil || fmt.Sprint(*d) != "[23 25]" || st.again.rows.Load() != rowsNone {
		t.Errorf("learned %v, rows %d; want [23 25], none", d, st.again.rows.Load())
	}
	if s.expects.head() != none || client.Len() != 0 {
		t.Errorf("queue at %v, the client got %q", s.expects.head().kind, client.Bytes())
	}
	st.again.described.Store(nil)
	st.again.rows.Store(rowsUnknown)
	st.again.asked = false
	s.typesBeforeOwnQuery()
	feed(t, s)
	feed(t, s)
	if st.again.described.Load() != nil || st.again.rows.Load() != rowsUnknown || s.expects.head() != none || client.Len() != 0 {
		t.Errorf("after an error: learned %v, rows %d, the client got %q", st.again.described.Load(), st.again.rows.Load(), client.Bytes())
	}
	st.again.asked = false
	s.typesBeforeOwnQuery()
	for range 3 {
		feed(t, s)
	}
	if st.again.described.Load() == nil || st.again.rows.Load() != rowsSome || s.expects.head() != none || client.Len() != 0 {
		t.Errorf("after the types and an error: learned %v, rows %d, the client got %q", st.again.described.Load(), st.again.rows.Load(), client.Bytes())
	}
}

// TestDescribeUnprepared: the client's Describe of a statement whose
// re-Parse failed (the backend holds none) and which has no result goes
// as a Close of the trial's name, whose CloseComplete becomes the
// ParameterDescription and NoData PostgreSQL answers from the statement
// it still holds; with the types or the result not known, or the
// backend holding the statement, it goes as it is.
func TestDescribeUnprepared(t *testing.T) {
	s, st, client, _ := unnamedSession(t, backendStream(t, &pgproto3.CloseComplete{}))
	st.unprepared.Store(true)
	st.again.described.Store(&[]uint32{23, 25})
	if out, err := s.describeUnprepared(s.expects.fresh(expDescribeStmt), st); out != nil || err != nil {
		t.Errorf("result unknown: sent %q (%v)", out, err)
	}
	st.again.rows.Store(rowsNone)
	st.unprepared.Store(false)
	if out, err := s.describeUnprepared(s.expects.fresh(expDescribeStmt), st); out != nil || err != nil {
		t.Errorf("the backend holds it: sent %q (%v)", out, err)
	}
	st.unprepared.Store(true)
	out, err := s.describeUnprepared(s.expects.fresh(expDescribeStmt), st)
	if want := pgwiretest.Encode(t, &pgproto3.Close{ObjectType: 'S', Name: trialName}); err != nil || !bytes.Equal(out, want) {
		t.Fatalf("sent %q (%v), want %q", out, err, want)
	}
	feed(t, s)
	want := pgwiretest.Encode(t, &pgproto3.ParameterDescription{ParameterOIDs: []uint32{23, 25}}, &pgproto3.NoData{})
	if !bytes.Equal(client.Bytes(), want) || s.expects.head() != none {
		t.Errorf("the client got %q, want %q", client.Bytes(), want)
	}
}

// TestDescribeUnpreparedWithResult: a statement with a result is
// prepared again between the stand-in's ParameterDescription and the
// client's Describe, whose own ParameterDescription is kept; its
// re-Parse failing, the client gets the types and the error, as
// PostgreSQL answers after analysing its statement again.
func TestDescribeUnpreparedWithResult(t *testing.T) {
	e := &pgproto3.ErrorResponse{Severity: "ERROR", Code: "42804", Message: "column \"id\" is of type date but expression is of type integer"}
	s, st, client, _ := unnamedSession(t, backendStream(t, &pgproto3.CloseComplete{}, &pgproto3.CloseComplete{}, e, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
	st.unprepared.Store(true)
	st.again.described.Store(&[]uint32{23, 25})
	st.again.rows.Store(rowsSome)
	x := s.expects.fresh(expDescribeStmt)
	out, err := s.describeUnprepared(x, st)
	if err != nil {
		t.Fatal(err)
	}
	want := pgwiretest.Encode(t, &pgproto3.Close{ObjectType: 'S', Name: trialName}, &pgproto3.Close{ObjectType: 'S'},
		&pgproto3.Parse{Query: st.again.query, ParameterOIDs: []uint32{23, 25}}, &pgproto3.Describe{ObjectType: 'S'})
	if !bytes.Equal(out, want) || !x.paramsSent {
		t.Fatalf("sent\n%q\nwant\n%q (paramsSent %v)", out, want, x.paramsSent)
	}
	s.expects.push(&expectation{kind: expSync})
	for range 4 {
		feed(t, s)
	}
	if want := pgwiretest.Encode(t, &pgproto3.ParameterDescription{ParameterOIDs: []uint32{23, 25}}, e, &pgproto3.ReadyForQuery{TxStatus: 'I'}); !bytes.Equal(client.Bytes(), want) {
		t.Errorf("the client got\n%q\nwant\n%q", client.Bytes(), want)
	}
}

// TestReprepareDroppedUnnamed: an unnamed statement a simple Query of
// the client's dropped is not prepared again at its Bind, guard failed
// or not: PostgreSQL answers the Bind 26000.
func TestReprepareDroppedUnnamed(t *testing.T) {
	s, _, _, _ := unnamedSession(t, new(bytes.Buffer))
	s.endVirtual() // what a simple Query does
	if out, err := s.reprepareStale(""); out != nil || err != nil || s.expects.head() != none {
		t.Errorf("prepared again: %q (%v)", out, err)
	}
}

// TestTrialTakesErrorPreface: a named statement prepared again for a
// Describe (describeUnprepared, requests unanswered): its trial Parse,
// whose error comes first, carries the types to send before it.
func TestTrialTakesErrorPreface(t *testing.T) {
	s, old, _ := typesSession(t, new(bytes.Buffer))
	old.unprepared.Store(true)
	closeX := s.expects.fresh(expClose)
	closeX.name, closeX.closeS, closeX.injected = "ins", true, true
	s.expects.push(closeX)
	info := &stmtInfo{filled: true}
	s.noteParse("ins", info)
	s.preface = []byte("types")
	parse := pgwiretest.Encode(t, &pgproto3.Parse{Name: "ins", Query: "INSERT INTO t (id, s) VALUES ($1, $2)"})
	if _, ok := s.trialParse("ins", parse, closeX); !ok {
		t.Fatal("no trial")
	}
	for x := s.expects.head(); x != none; x = s.expects.head() {
		if x.trial && string(x.answer) != "types" {
			t.Errorf("the trial's preface is %q", x.answer)
		}
		if x.kind == expDescribeStmt {
			t.Error("the old statement described where the backend holds none (unprepared)")
		}
		s.expects.pop()
	}
}
