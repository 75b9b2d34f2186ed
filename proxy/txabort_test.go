package proxy

import "testing"

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
