package guard

import "github.com/phiguard/phiguard/sqlrewrite"

// qualifiedNameRefused recognises the database's error for a name a plan
// made knowing the catalog sent qualified (sqlrewrite/scope_qualify.go)
// whose table no longer has the column: DDL the session's catalog did
// not see. The client gets phiguard's refusal; the catalog is read
// again before the next request, and a prepared statement is prepared
// again at its next Bind, so that the statement, run again, is planned
// on the catalog as it is. Backend pump.
func (s *Session) qualifiedNameRefused(head *expectation, code, msg string) (*sqlrewrite.Refusal, bool) {
	rc, ok := sqlrewrite.QualifiedNameRefusal(s.sentQualified(head), code, msg)
	if ok {
		s.catalogStale.Store(true)
		s.markGuardFailed(head)
	}
	return rc, ok
}

// sentQualified are the qualified names of the statement head answers:
// its prepared statement's plan's (the one a Parse prepares), or the
// Query's.
func (s *Session) sentQualified(head *expectation) []sqlrewrite.QualifiedName {
	st := s.executedStatement(head) // reprepare.go
	switch head.kind {
	case expParse:
		st = head.prep
	case expQuery:
		return head.qualified
	}
	if st == nil || st.plan == nil {
		return nil
	}
	return st.plan.Qualified
}
