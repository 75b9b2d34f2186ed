package guard

import (
	"bytes"
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
