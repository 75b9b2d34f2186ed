package guard

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgwire/pgwiretest"
)

// typesSession is a session holding the named statement "ins", Parsed
// with the given declared types and a column list phiguard filled.
func typesSession(t *testing.T, bs *bytes.Buffer, oids ...uint32) (*Session, *stmtInfo, *bytes.Buffer) {
	t.Helper()
	s, client, _ := abortSession(t, bs)
	st := &stmtInfo{filled: true, again: &reprepared{query: "INSERT INTO t VALUES ($1, $2)", oids: oids}}
	s.clientStmts = map[string]*stmtInfo{"ins": st}
	s.stmts["ins"] = st
	return s, st, client
}

func bindBody(t *testing.T, stmt string, n int) []byte {
	t.Helper()
	b := &pgproto3.Bind{PreparedStatement: stmt, ParameterFormatCodes: []int16{0}}
	for i := range n {
		b.Parameters = append(b.Parameters, []byte(fmt.Sprint(i)))
	}
	return pgwiretest.EncodeBody(t, b)
}

// TestDescribeForTypesWhen: phiguard describes a statement before its Bind
// only when it may prepare it again, the client left a type unspecified,
// and neither the client nor phiguard learned the types yet; the
// Describe is of that statement and its expectation is phiguard's.
func TestDescribeForTypesWhen(t *testing.T) {
	s, st, _ := typesSession(t, new(bytes.Buffer), 23)
	if got := bindParamCount(bindBody(t, "ins", 2)); got != 2 {
		t.Fatalf("bindParamCount = %d, want 2", got)
	}
	if out := s.describeForTypes("ins", bindBody(t, "ins", 1)); out != nil {
		t.Errorf("every parameter declared: described anyway (%q)", out)
	}
	out := s.describeForTypes("ins", bindBody(t, "ins", 2))
	want := pgwiretest.Encode(t, &pgproto3.Describe{ObjectType: 'S', Name: "ins"})
	if !bytes.Equal(out, want) {
		t.Fatalf("$2 unspecified: sent %q, want %q", out, want)
	}
	if x := s.expects.head(); x.kind != expDescribeStmt || !x.injected || x.name != "ins" {
		t.Fatalf("expectation %+v, want phiguard's Describe of ins", x)
	}
	s.expects.pop()
	st.clientDescribed = true
	if out := s.describeForTypes("ins", bindBody(t, "ins", 2)); out != nil {
		t.Error("the client described it: described again")
	}
	st.clientDescribed = false
	st.again.described.Store(&[]uint32{23, 25})
	if out := s.describeForTypes("ins", bindBody(t, "ins", 2)); out != nil {
		t.Error("types known: described again")
	}
	s.clientStmts[""] = &stmtInfo{again: &reprepared{}}
	if out := s.describeForTypes("", bindBody(t, "", 2)); out != nil {
		t.Error("the unnamed statement: described")
	}
	st.again = nil
	if out := s.describeForTypes("ins", bindBody(t, "ins", 2)); out != nil {
		t.Error("no guard, never prepared again: described")
	}
}

// TestDescribeForTypesAnswerKept: the answer to phiguard's Describe
// (ParameterDescription, then NoData or RowDescription) reaches no client
// and teaches phiguard the types; the Bind's answer behind it passes.
func TestDescribeForTypesAnswerKept(t *testing.T) {
	for _, result := range []pgproto3.BackendMessage{&pgproto3.NoData{},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("id"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}}} {
		bs := backendStream(t, &pgproto3.ParameterDescription{ParameterOIDs: []uint32{23, 25}}, result, &pgproto3.BindComplete{})
		s, st, client := typesSession(t, bs)
		s.expects.push(&expectation{kind: expDescribeStmt, name: "ins", injected: true})
		s.expects.push(&expectation{kind: expBind, stmt: "ins"})
		for range 3 {
			feed(t, s)
		}
		if want := pgwiretest.Encode(t, &pgproto3.BindComplete{}); !bytes.Equal(client.Bytes(), want) {
			t.Errorf("%T: the client got %q, want only BindComplete", result, client.Bytes())
		}
		if d := st.again.described.Load(); d == nil || fmt.Sprint(*d) != "[23 25]" {
			t.Errorf("%T: types learned %v, want [23 25]", result, d)
		}
		if st.described || st.fields != nil {
			t.Errorf("%T: phiguard's Describe stood for the client's", result)
		}
		if s.expects.head() != none {
			t.Errorf("%T: expectations left: %+v", result, s.expects.head())
		}
	}
}

// TestDescribeForTypesErrorIsTheBinds: an error answering phiguard's
// Describe (the Bind behind it would fail the same way) is the Bind's:
// the client gets it once, in the Bind's place; the statement's guard
// counts as failed as it would for the Bind; and the queue is at the Sync.
func TestDescribeForTypesErrorIsTheBinds(t *testing.T) {
	e := &pgproto3.ErrorResponse{Severity: "ERROR", Code: "42703", Message: "column \"note\" of relation \"t\" does not exist"}
	bs := backendStream(t, e, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	s, st, client := typesSession(t, bs)
	s.expects.push(&expectation{kind: expDescribeStmt, name: "ins", injected: true})
	s.expects.push(&expectation{kind: expBind, stmt: "ins", filled: true})
	s.expects.push(&expectation{kind: expExecute})
	s.expects.push(&expectation{kind: expSync})
	feed(t, s)
	if !st.guardFailed.Load() {
		t.Error("the error did not mark the statement to be prepared again")
	}
	if x := s.expects.head(); x.kind != expSync {
		t.Fatalf("after the error the queue is at %v, want the Sync", x.kind)
	}
	feed(t, s)
	want := pgwiretest.Encode(t, e, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	if !bytes.Equal(client.Bytes(), want) {
		t.Errorf("the client got\n%q\nwant\n%q", client.Bytes(), want)
	}
}
