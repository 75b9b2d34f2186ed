package guard

import "testing"

// TestReplacementsDoNotChain: a confirmed Parse lets the statement it
// replaced go, so a session that re-parses the unnamed statement keeps
// one, not all.
func TestReplacementsDoNotChain(t *testing.T) {
	s := &Session{clientOwned: clientOwned{clientStmts: map[string]*stmtInfo{}}}
	var last *stmtInfo
	for range 3 {
		info := &stmtInfo{}
		s.noteParse("", info)
		if info.replacing != nil {
			info.replacing.settle(false)
			if info.replacing.prev != nil {
				t.Fatal("a confirmed Parse still holds the statement it replaced")
			}
		}
		last = info
	}
	if got, err := s.boundStatement(""); err != nil || got != last {
		t.Fatalf("bound %p, %v; want the last statement %p", got, err, last)
	}
	// A Parse PostgreSQL skipped gives the old statement back.
	skipped := &stmtInfo{}
	s.noteParse("", skipped)
	skipped.replacing.settle(true)
	if got, _ := s.boundStatement(""); got != last {
		t.Fatal("a skipped Parse did not give the old statement back")
	}
	// A Close PostgreSQL skipped, too; a confirmed one leaves nothing.
	s.noteClose("").replacing.settle(true)
	if got, _ := s.boundStatement(""); got != last {
		t.Fatal("a skipped Close lost the statement")
	}
	s.noteClose("").replacing.settle(false)
	if got, _ := s.boundStatement(""); got != nil {
		t.Fatal("a confirmed Close left the statement")
	}
}
