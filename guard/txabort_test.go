package guard

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/internal/pgwire/pgwiretest"
)

// TestAbortWaitsForAClientFreeQueue: the abort is made due and sent only
// while the backend has nothing of the client's unanswered (phiguard's own
// requests do not count), so it can never land behind a request the
// client sent after the failed one; and one queued already is not sent
// twice.
func TestAbortWaitsForAClientFreeQueue(t *testing.T) {
	var q expectQueue
	q.push(&expectation{kind: expOutput})
	if !q.wantAbort() || !q.isAbortDue() {
		t.Fatal("behind phiguard's own request only: the abort must be due")
	}
	q.push(q.fresh(expParse)) // the client pipelined a Parse meanwhile
	if q.takeAbort() {
		t.Fatal("abort taken with a Parse of the client's unanswered")
	}
	if q.wantAbort() {
		t.Fatal("abort wanted with a Parse of the client's unanswered")
	}
	q.pop() // expOutput
	q.pop() // the Parse
	if !q.takeAbort() || q.isAbortDue() || q.head().kind != expAbort {
		t.Fatalf("client-free queue: abort not taken (head %v)", q.head().kind)
	}
	if !q.wantAbort() || q.isAbortDue() {
		t.Fatal("an abort queued already: hold for it, but do not send another")
	}
	q.pop()
	q.wantAbort()
	q.cancelAbort()
	if q.takeAbort() {
		t.Fatal("a cancelled abort was taken")
	}
}

// abortSession is a session with only what the backend pump's side of
// the abort touches: bs is what it reads from the backend, client what it
// sends the client, backend what the client pump sends the backend.
func abortSession(t *testing.T, bs *bytes.Buffer) (s *Session, client, backend *bytes.Buffer) {
	t.Helper()
	srv := NewShared(config.Default(), zap.NewNop(), NewMetrics(prometheus.NewRegistry()), nil, nil)
	client, backend = new(bytes.Buffer), new(bytes.Buffer)
	s = &Session{srv: srv, log: zap.NewNop(),
		clientOwned: clientOwned{bw: bufio.NewWriter(backend)},
		backendOwned: backendOwned{br: pgwire.NewMsgReader(bs, 1024, 1<<20), cw: bufio.NewWriter(client),
			stmts: map[string]*stmtInfo{}, portals: map[string]*portalInfo{}}}
	s.wire = &testWire{s: s}
	return s, client, backend
}

// feed has the backend pump take the next message; handled is
// protectBackend's answer.
func feed(t *testing.T, s *Session) (typ byte, handled bool) {
	t.Helper()
	typ, _, err := s.br.Next()
	if err != nil {
		t.Fatal(err)
	}
	handled, err = s.protectBackend(typ)
	if err != nil {
		t.Fatal(err)
	}
	if !handled {
		if err := s.br.Forward(s.cw); err != nil {
			t.Fatal(err)
		}
	}
	s.cw.Flush()
	return typ, handled
}

func backendStream(t *testing.T, msgs ...pgproto3.Message) *bytes.Buffer {
	t.Helper()
	return bytes.NewBuffer(pgwiretest.Encode(t, msgs...))
}

// TestAbortReplacesHeldReady: the ReadyForQuery 'T' after a failed result
// is held, the abort's error swallowed, and its ReadyForQuery 'E' is what
// the client gets.
func TestAbortReplacesHeldReady(t *testing.T) {
	bs := backendStream(t, &pgproto3.ReadyForQuery{TxStatus: 'T'},
		&pgproto3.ErrorResponse{Severity: "ERROR", Code: "22P02", Message: "invalid input syntax"},
		&pgproto3.ReadyForQuery{TxStatus: 'E'})
	s, client, backend := abortSession(t, bs)
	s.expects.push(&expectation{kind: expQuery})
	s.abortOwed = true
	if _, handled := feed(t, s); !handled || s.heldStatus != 'T' || !s.expects.isAbortDue() {
		t.Fatalf("ReadyForQuery 'T' after a failed result: handled %v, held %q, abort due %v", handled, s.heldStatus, s.expects.isAbortDue())
	}
	if err := s.serveAbort(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(backend.Bytes(), abortQuery) {
		t.Fatalf("sent the backend %q, want the abort", backend.Bytes())
	}
	feed(t, s) // the abort's error
	if typ, handled := feed(t, s); typ != pgwire.BeReadyForQuery || handled {
		t.Fatalf("the abort's ReadyForQuery: type %q handled %v, want it forwarded", typ, handled)
	}
	if want := []byte{pgwire.BeReadyForQuery, 0, 0, 0, 5, 'E'}; !bytes.Equal(client.Bytes(), want) {
		t.Fatalf("the client got %q, want only ReadyForQuery 'E'", client.Bytes())
	}
	if s.abortOwed || s.heldStatus != 0 {
		t.Fatal("abort still owed or a ReadyForQuery still held")
	}
}

// TestHeldReadyReleasedByPipelinedRequest: a Parse the client pipelined
// behind the failed request, which the hold did not see, gets a Flush
// behind it so that its answer comes, and that answer releases the held
// ReadyForQuery first; the abort waits for a client-free queue.
func TestHeldReadyReleasedByPipelinedRequest(t *testing.T) {
	bs := backendStream(t, &pgproto3.ReadyForQuery{TxStatus: 'T'}, &pgproto3.ParseComplete{})
	s, client, backend := abortSession(t, bs)
	s.expects.push(&expectation{kind: expQuery})
	s.abortOwed = true
	feed(t, s) // held
	s.expects.push(&expectation{kind: expParse})
	s.noteSegment(pgwire.FeParse)
	for range 2 {
		if err := s.serveAbort(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(backend.Bytes(), pgwire.FlushMessage) {
		t.Fatalf("sent the backend %q, want one Flush", backend.Bytes())
	}
	if typ, handled := feed(t, s); typ != pgwire.BeParseComplete || handled {
		t.Fatalf("ParseComplete: type %q handled %v", typ, handled)
	}
	want := append([]byte{pgwire.BeReadyForQuery, 0, 0, 0, 5, 'T'}, pgwire.BeParseComplete, 0, 0, 0, 4)
	if !bytes.Equal(client.Bytes(), want) {
		t.Fatalf("the client got %q, want the held ReadyForQuery, then ParseComplete", client.Bytes())
	}
	if !s.abortOwed || !s.expects.isAbortDue() {
		t.Fatal("the abort is still owed after the pipelined request")
	}
}
