package guard

import (
	"testing"

	"github.com/phiguard/phiguard/sqlrewrite"
)

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

// TestNoteDDLPublishes: what a request must publish to the database's
// other sessions: DDL they see and COMMIT/ROLLBACK PREPARED, not a
// temporary table or TRUNCATE, which still have the session read its own
// catalog.
func TestNoteDDLPublishes(t *testing.T) {
	for sql, want := range map[string][2]bool{ // read own catalog, publish
		"ALTER TABLE t ADD COLUMN x int": {true, true},
		"COMMIT PREPARED 'tx'":           {true, true},
		"ROLLBACK PREPARED 'tx'":         {true, true},
		"CREATE TEMP TABLE t (a int)":    {true, false},
		"TRUNCATE t":                     {true, false},
		"SELECT 1":                       {false, false},
		"PREPARE TRANSACTION 'tx'":       {false, false},
	} {
		s := &Session{srv: &Shared{protect: &Protection{}}}
		s.noteDDL(sqlrewrite.Analyze(sql))
		if s.ddlSeen != want[0] || s.ddlOwn != want[1] {
			t.Errorf("%s: reads its catalog %v, publishes %v; want %v", sql, s.ddlSeen, s.ddlOwn, want)
		}
	}
}
