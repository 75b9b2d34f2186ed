package guard

import "github.com/phiguard/phiguard/sqlrewrite"

// nameChecks are the checks of how names bind that a plan puts in the
// text it sends: names sent qualified with the inner item the catalog
// binds them to (sqlrewrite/scope_qualify.go), and probes that inner
// items lack a name bound further out (sqlrewrite/scope_probe.go). Each
// fails the statement in the database when the catalog it was planned
// on is stale.
type nameChecks struct {
	qualified []sqlrewrite.QualifiedName
	lacking   []sqlrewrite.LackedName
}

func namesOf(plan *sqlrewrite.Plan) nameChecks {
	return nameChecks{qualified: plan.Qualified, lacking: plan.Lacking}
}

func (n nameChecks) any() bool { return len(n.qualified) > 0 || len(n.lacking) > 0 }

// qualifiedNameRefused recognises the database's error for a failed
// check of the statement head answers: a name sent qualified whose table
// no longer has the column, or a probed item that has gained the name
// it must lack; DDL the session's catalog did not see. The client gets
// phiguard's refusal; the catalog is read again before the next request,
// and a prepared statement is prepared again at its next Bind, so that
// the statement, run again, is planned on the catalog as it is. Backend
// pump.
func (s *Session) qualifiedNameRefused(head *expectation, code, msg string) (*sqlrewrite.Refusal, bool) {
	sent := s.sentNames(head)
	rc, ok := sqlrewrite.QualifiedNameRefusal(sent.qualified, code, msg)
	if !ok {
		rc, ok = sqlrewrite.LackedNameRefusal(sent.lacking, code, msg)
	}
	if ok {
		s.catalogStale.Store(true)
		s.markGuardFailed(head)
		if st, _ := s.describedInfo(head); st != nil && st.again != nil {
			// PostgreSQL analysed the statement again at its Describe
			// (protect_backend.go describedInfo): prepared again at its
			// next Bind.
			st.guardFailed.Store(true)
		}
	}
	return rc, ok
}

// sentNames are the checks of names of the statement head answers: its
// prepared statement's plan's (the one a Parse prepares, or a Describe
// describes), or the Query's.
func (s *Session) sentNames(head *expectation) nameChecks {
	st := s.executedStatement(head) // reprepare.go
	switch head.kind {
	case expParse:
		st = head.prep
	case expDescribeStmt, expDescribePortal:
		// PostgreSQL analyses a prepared statement again at its
		// Describe when the catalog changed, where a check fails as at
		// a Bind (red team 38: the probe's 42702 reached the client).
		st, _ = s.describedInfo(head)
	case expQuery:
		return head.names
	}
	if st == nil || st.plan == nil {
		return nameChecks{}
	}
	return namesOf(st.plan)
}
