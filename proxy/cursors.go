package proxy

import (
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A SQL cursor is read by FETCH or MOVE, statements that name no table:
// the access rules and the encryption plan were applied to the DECLARE.
// So the session remembers, per cursor it saw declared, whether its query
// touches PHI and which rules applied, under which policy. A FETCH from a
// cursor over PHI is admitted to the audit trail like the query itself
// (reserved room, the DECLARE's rules on its record); a FETCH from a
// cursor declared under an older policy is refused for a role with rules
// (a reload may have narrowed what the role sees); a cursor phiguard did
// not see declared (a function's refcursor) counts as PHI.

// cursorInfo is what the DECLARE of a cursor decided.
type cursorInfo struct {
	pol      *policy.Policy
	phi      bool
	decision audit.Decision
	rule     string
	tables   []string // what its query reads, for the records of its FETCHes
}

// cursorRequest is what a request's cursor statements need.
type cursorRequest struct {
	readsPHI bool           // a FETCH or MOVE of a cursor over PHI
	decision audit.Decision // the DECLARE's, for the record
	rule     string
	tables   []string
	read     []string // the cursors it reads, checked again at each Execute
}

// noteCursors follows the DECLAREs and CLOSEs of a request (Query or
// Parse) and judges its FETCHes and MOVEs. phi, decision and rule are the
// request's own verdict, which a DECLARE in it inherits. Client pump.
func (s *session) noteCursors(a *sqlrewrite.Analysis, phi bool, decision audit.Decision, rule string) (cursorRequest, *pgerr.Error) {
	var req cursorRequest
	if a == nil || a.Err != nil || s.srv.protect == nil {
		return req, nil
	}
	for _, st := range a.Statements {
		switch st.CursorOp {
		case sqlrewrite.CursorDeclare:
			if s.cursors == nil {
				s.cursors = map[string]*cursorInfo{}
			}
			c := &cursorInfo{pol: s.policy(), phi: phi, decision: decision, rule: rule}
			for _, t := range st.Tables {
				c.tables = append(c.tables, t.String())
			}
			s.cursors[st.Cursor] = c
		case sqlrewrite.CursorClose:
			if st.Cursor == "*" {
				clear(s.cursors)
			} else {
				delete(s.cursors, st.Cursor)
			}
		case sqlrewrite.CursorRead:
			req.read = append(req.read, st.Cursor)
			c := s.cursors[st.Cursor]
			if c == nil {
				req.readsPHI = true // not declared through phiguard: fail closed
				continue
			}
			if pe := s.staleCursor(st.Cursor); pe != nil {
				return req, pe
			}
			if c.phi {
				req.readsPHI = true
				req.decision, req.rule, req.tables = c.decision, c.rule, c.tables
			}
		}
	}
	return req, nil
}

// staleCursor refuses reading a cursor declared under an older policy,
// for a role with rules.
func (s *session) staleCursor(name string) *pgerr.Error {
	c := s.cursors[name]
	if c == nil || c.pol == s.policy() || s.restricted() == nil {
		return nil
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"cursor %q was declared under an older policy; phiguard's policy was reloaded and may change what this role sees: declare it again", name)
}
