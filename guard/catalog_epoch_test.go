package guard

import "testing"

// TestDDLEpochPublished: a session's DDL, answered outside a transaction
// block, makes the database's other sessions stale and not itself; DDL
// inside a block moves the epoch only when the block ends; a session of
// another database is not touched.
func TestDDLEpochPublished(t *testing.T) {
	srv := &Shared{}
	session := func(db string) *Session {
		s := &Session{srv: srv, ddlEpoch: srv.ddl.of(db)}
		s.noteEpochRead()
		return s
	}
	a, b, other := session("ehr"), session("ehr"), session("billing")
	stale := func(s *Session) bool {
		s.catalogStale.Store(false)
		s.followOtherSessionsDDL()
		return s.catalogStale.Load()
	}
	a.publishDDL('I')
	a.ownReadCurrent() // the read behind a's DDL, answered after it
	if stale(a) || !stale(b) || stale(other) {
		t.Fatalf("after a's DDL: a stale %v, b stale %v (want true), billing stale %v", stale(a), stale(b), stale(other))
	}
	b.noteEpochRead()
	a.publishDDL('T')
	if stale(b) {
		t.Fatal("b stale before a's transaction block ended")
	}
	a.publishDDLAtTransactionEnd()
	if !stale(b) || !stale(a) {
		t.Fatalf("after a's block ended: b stale %v, a stale %v, want both (a's read inside the block may be rolled back)", stale(b), stale(a))
	}
	a.publishDDLAtTransactionEnd()
	b.noteEpochRead()
	if stale(b) {
		t.Fatal("a block end without DDL moved the epoch")
	}
}
