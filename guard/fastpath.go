package guard

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"

	"github.com/phiguard/phiguard/audit"
)

// The fast-path FunctionCall message ('F') calls a function by its OID with
// arguments, outside SQL: no statement text for the access rewriter to
// read, so nothing would check which function it is (query_to_xml runs any
// SQL, set_config changes search_path) or what its arguments hold. phiguard
// therefore refuses it (0A000) for every role with rules, for every role
// a function that runs SQL given as text under a policy that encrypts
// columns (its SQL would compute on the cells: sqlrewrite's
// planner_sqltext.go, known by OID from the catalog), and, with a
// policy, while the audit trail cannot record it (58030). Every
// FunctionCall, run or refused, gets an audit record naming the function's
// OID, protocol "function_call". Drivers use it for large objects
// (libpq's lo_*, pgjdbc's LargeObjectManager); a role with rules that
// needs those gets them through SQL (SELECT lo_get(...)), where the
// rewriter sees them.

// protectFunctionCall handles a FunctionCall: it returns the marker that
// stands in for a refused call, or nil to forward the call as it came.
func (s *Session) protectFunctionCall() ([]byte, error) {
	body, err := s.cr.Body()
	if err != nil {
		return nil, err
	}
	if len(body) < 4 {
		return nil, pgwire.Violation("malformed FunctionCall message")
	}
	oid := binary.BigEndian.Uint32(body)
	// The record's text names the function by OID: an identifier, so the
	// audit's normalization keeps it (it replaces only constants).
	a, _ := s.srv.analyzer.Analyze(fmt.Appendf(nil, "SELECT phiguard_function_call_oid_%d()", oid))
	x := &expectation{kind: expQuery, analysis: a, start: time.Now(), fastpath: true, decision: audit.Allow}
	pe := s.fastpathRefusal(oid)
	if pe == nil && s.srv.protect != nil {
		pe = s.reserveRecords(x, 1)
	}
	s.expects.push(x)
	if pe == nil {
		return nil, nil
	}
	x.decision = audit.Deny
	return pgwire.QueryMessage(s.refuseStatement(pe, a)), nil
}

// fastpathRefusal says why a FunctionCall may not run, or nil. (With a
// policy, a call that may run also needs room for its audit record.)
func (s *Session) fastpathRefusal(oid uint32) *pgerr.Error {
	if role := s.restricted(); role != nil {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"the fast-path FunctionCall message (function OID %d) is not available to role %s (rule %q): phiguard cannot check a function called outside SQL; call it in a SELECT",
			oid, role.Name, role.Name+": statements")
	}
	if cat := s.catalog.Load(); cat != nil && cat.names().sqlText[oid] && sqlrewrite.EncryptsAnything(s.policy()) {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"the fast-path FunctionCall of function OID %d runs SQL phiguard cannot see (given as text, or over whole tables), and this database has encrypted columns: run it directly against the database", oid)
	}
	return nil
}
