package guard

import (
	"sync"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A SQL cursor is read by FETCH or MOVE, statements that name no table:
// the access rules and the encryption plan were applied to its DECLARE (or,
// for a protocol portal read by FETCH, to its statement). So the session
// keeps, per cursor, whether its query touches PHI and which rules applied,
// under which policy:
//
//   - a FETCH from a cursor over PHI is admitted to the audit trail like
//     the query itself (reserved room, the DECLARE's tables and rules on its
//     record); a cursor the session does not know counts as PHI, and a role
//     with rules may not read it at all;
//   - a role with rules may not read a cursor declared under an older
//     policy (a reload may have narrowed what it sees).
//
// The map changes only when the backend confirms: a DECLARE or CLOSE takes
// effect at its CommandComplete, a named portal at its BindComplete. A
// DECLARE PostgreSQL skipped (after an error), refused (a duplicate name)
// or never ran (a Parse never executed) changes nothing. Within one request
// a FETCH may read a cursor an earlier statement of it declares: if that
// DECLARE fails, PostgreSQL runs nothing after it.

// cursorInfo is what the DECLARE of a cursor (or the Bind of a portal)
// decided.
type cursorInfo struct {
	pol      *policy.Policy
	phi      bool
	decision audit.Decision
	rule     string
	tables   []string // what its query reads, for the records of its FETCHes
	portal   bool     // a protocol portal: gone when its transaction ends
	// plan is a portal's statement's plan: the cells its Parse and Bind
	// sealed, which a FETCH after the keys were withdrawn must not use.
	plan *sqlrewrite.Plan
}

// cursorChange is a DECLARE or CLOSE waiting for its statement's
// CommandComplete: statement is its index in the request. Or, with drop
// set, a DEALLOCATE or DISCARD ALL (sql_prepared.go).
type cursorChange struct {
	statement int
	op        sqlrewrite.CursorOp
	name      string
	info      *cursorInfo
	drop      *preparedDrop
}

// cursorMap is the session's cursors. The backend pump writes it on
// confirmation; the client pump reads it.
type cursorMap struct {
	mu sync.Mutex
	m  map[string]*cursorInfo
}

func (c *cursorMap) get(name string) *cursorInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

func (c *cursorMap) apply(ch cursorChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ch.op {
	case sqlrewrite.CursorDeclare:
		if c.m == nil {
			c.m = map[string]*cursorInfo{}
		}
		c.m[ch.name] = ch.info
	case sqlrewrite.CursorClose:
		delete(c.m, ch.name)
	case sqlrewrite.CursorCloseAll:
		clear(c.m)
	}
}

// cursorRequest is what a request's cursor statements need.
type cursorRequest struct {
	readsPHI bool           // a FETCH or MOVE of a cursor over PHI
	decision audit.Decision // the DECLARE's, for the record
	rule     string
	tables   []string
	read     []string       // the cursors it reads, judged again at each Execute
	changes  []cursorChange // its DECLAREs and CLOSEs, applied on confirmation
}

// noteCursors lists the DECLAREs and CLOSEs of a request (Query or Parse)
// and judges its FETCHes and MOVEs. phi, decision and rule are the
// request's own verdict, which a DECLARE in it inherits. Client pump.
func (s *Session) noteCursors(a *sqlrewrite.Analysis, phi bool, decision audit.Decision, rule string) (cursorRequest, *pgerr.Error) {
	var req cursorRequest
	if a == nil || a.Err != nil || s.srv.protect == nil {
		return req, nil
	}
	req.changes, s.preparedDrops = s.preparedDrops, nil // noteSQLPrepares' DEALLOCATEs
	declared := map[string]*cursorInfo{}                // by earlier statements of this request
	for i, st := range a.Statements {
		switch st.CursorOp {
		case sqlrewrite.CursorDeclare:
			c := &cursorInfo{pol: s.policy(), phi: phi, decision: decision, rule: rule}
			for _, t := range st.Tables {
				c.tables = append(c.tables, t.String())
			}
			declared[st.Cursor] = c
			req.changes = append(req.changes, cursorChange{statement: i, op: st.CursorOp, name: st.Cursor, info: c})
		case sqlrewrite.CursorClose, sqlrewrite.CursorCloseAll:
			req.changes = append(req.changes, cursorChange{statement: i, op: st.CursorOp, name: st.Cursor})
		case sqlrewrite.CursorRead:
			req.read = append(req.read, st.Cursor)
			c := declared[st.Cursor]
			if c == nil {
				var pe *pgerr.Error
				if c, pe = s.knownCursor(st.Cursor); pe != nil {
					return req, pe
				}
			}
			req.add(c)
		}
	}
	return req, nil
}

// add takes in one cursor a request reads (nil: unknown, counted as PHI).
func (req *cursorRequest) add(c *cursorInfo) {
	if c == nil {
		req.readsPHI = true
		return
	}
	if c.phi {
		req.readsPHI = true
		req.decision, req.rule, req.tables = c.decision, c.rule, c.tables
	}
}

// knownCursor returns what the session knows of a cursor it reads, or the
// refusal: for a role with rules, a cursor phiguard did not see declared
// or bound, or one declared under an older policy.
func (s *Session) knownCursor(name string) (*cursorInfo, *pgerr.Error) {
	c := s.cursors.get(name)
	if c != nil {
		if pe := s.sealedUnderWithdrawn(c.plan); pe != nil {
			return nil, pe
		}
	}
	if s.restricted() == nil {
		return c, nil
	}
	switch {
	case c == nil:
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"cursor %q was not declared through phiguard in this session (or its DECLARE did not run), so role %s may not read it", name, s.restricted().Name)
	case c.pol != s.policy():
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"cursor %q was declared under an older policy; phiguard's policy was reloaded and may change what this role sees: declare it again", name)
	}
	return c, nil
}

// readCursors judges, at an Execute, the cursors a prepared FETCH or MOVE
// reads, as they are now.
func (s *Session) readCursors(names []string) (cursorRequest, *pgerr.Error) {
	var req cursorRequest
	for _, n := range names {
		c, pe := s.knownCursor(n)
		if pe != nil {
			return req, pe
		}
		req.add(c)
	}
	return req, nil
}

// confirmCursors applies the DECLAREs and CLOSEs of the statement a
// CommandComplete ended. Backend pump.
func (s *Session) confirmCursors(head *expectation, statement int) {
	for _, ch := range head.cursorChanges {
		switch {
		case ch.statement != statement:
		case ch.drop != nil:
			s.sqlPrepared.drop(ch.drop) // sql_prepared.go
			s.deallocated(ch.drop.name) // reprepare.go
		default:
			s.cursors.apply(ch)
		}
	}
}

// notePortal makes a named protocol portal readable by SQL FETCH like a
// cursor, judged by its statement. Backend pump, at BindComplete.
func (s *Session) notePortal(name string, st *stmtInfo) {
	if name == "" || st == nil || s.srv.protect == nil {
		return
	}
	s.cursors.apply(cursorChange{op: sqlrewrite.CursorDeclare, name: name, info: &cursorInfo{portal: true,
		pol: st.pol, phi: touchesPHI(st.plan, st.decisions) || st.readsPHI, decision: st.decision, rule: st.rule, plan: st.plan}})
}

// endPortals forgets the protocol portals when their transaction ends
// (SQL cursors WITH HOLD outlive it; the others PostgreSQL closes, and a
// FETCH of one fails there). Backend pump.
func (c *cursorMap) endPortals() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, ci := range c.m {
		if ci.portal {
			delete(c.m, name)
		}
	}
}
