package guard

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// An SQL PREPARE p AS SELECT n FROM z is checked when it is sent (its
// names read before it, a view over an encrypted column refused), but
// PostgreSQL analyses the prepared query again at an EXECUTE p after a
// change of the search path (or of an object it uses), and EXECUTE p
// names no relation: with z a plain table in public when it was
// prepared, and a view q.z of length(s) that another session made,
// EXECUTE p after SET search_path = q, public read the view and served
// 65 where PostgreSQL answers 6 (TestRedTeam32cSQLExecuteAfterPathChange;
// after a whole catalog read that lists q.z too). So the session keeps
// the statements of each PREPARE it sent, by name, and an EXECUTE of one
// (alone, under EXPLAIN, in CREATE TABLE AS) is checked as if it named
// what they name: its names are read before it when the catalog lacks
// them or the path changed since they were checked (freshBeforeUnknown),
// and it is refused when one is a view over an encrypted column, or is
// written through (viewWriteRefusal), or a CHECK or row security policy
// would judge it (judgedRefusal).
//
// A PREPARE of a name in use fails in PostgreSQL, which keeps the first;
// phiguard cannot tell whether it failed, so it keeps the statements of
// both (up to maxPreparedKept a name, then it replaces the last) until a
// DEALLOCATE of the name, DEALLOCATE ALL or DISCARD ALL.
const maxPreparedKept = 8

// noteSQLPrepares follows the PREPAREs and DEALLOCATEs of a Query or
// Parse (freshBeforeUnknown's, before it checks the names). Client pump.
func (s *Session) noteSQLPrepares(a *sqlrewrite.Analysis) {
	if a == nil || a.Err != nil {
		return
	}
	for i := range a.Statements {
		st := &a.Statements[i]
		switch st.Deallocates {
		case "":
		case "*":
			s.sqlPrepared = nil
		default:
			delete(s.sqlPrepared, st.Deallocates)
		}
		if st.Prepares == "" {
			continue
		}
		if s.sqlPrepared == nil {
			s.sqlPrepared = map[string][]sqlrewrite.Statement{}
		}
		kept := s.sqlPrepared[st.Prepares]
		if len(kept) == maxPreparedKept {
			kept = kept[:maxPreparedKept-1]
		}
		s.sqlPrepared[st.Prepares] = append(kept, *st)
	}
}

// withExecuted is a with the statements of the PREPAREs its EXECUTEs
// run, for the checks of the relations and columns they name. Client
// pump.
func (s *Session) withExecuted(a *sqlrewrite.Analysis) *sqlrewrite.Analysis {
	if a == nil || len(s.sqlPrepared) == 0 {
		return a
	}
	var more []sqlrewrite.Statement
	for i := range a.Statements {
		if name := a.Statements[i].Executes; name != "" {
			more = append(more, s.sqlPrepared[name]...)
		}
	}
	if more == nil {
		return a
	}
	return a.WithStatements(more)
}

// executeRefusal refuses an SQL EXECUTE (alone, under EXPLAIN, in CREATE
// TABLE AS) whose statements phiguard cannot check as withExecuted does,
// besides a name of phiguard's own (ownNameRefusal):
//   - a name the client prepared with the extended protocol's Parse:
//     phiguard rewrote its text for the values its Binds carry, which an
//     EXECUTE passes as they are: EXECUTE "Pd"('secret') of SELECT
//     count(*) ... WHERE d = $1 (d deterministic) answered 0 where
//     PostgreSQL answers 1, and EXECUTE pi(7, 'clear7') of an INSERT
//     stored the value in clear (TestRedTeam33bExecuteOfParsedStatement);
//     and it names no PREPARE, so nothing the search path now resolves
//     it to was checked;
//   - a name none of the session's PREPAREs kept: phiguard drops a
//     name's statements at a DEALLOCATE of it, DEALLOCATE ALL or DISCARD
//     ALL it sees, not when PostgreSQL runs them, and PostgreSQL may not
//     (a Parse of DEALLOCATE p never executed, SELECT 1/0; DEALLOCATE p,
//     DISCARD ALL inside a transaction block): EXECUTE p after any of
//     them, the path changed to a schema with a view of length(s) under
//     p's table's name, served 65 where PostgreSQL answers 6
//     (TestRedTeam33bExecuteAfterUnrunDeallocate).
//
// A name PostgreSQL does not have is refused too, where it answers 26000.
// Client pump.
func (s *Session) executeRefusal(a *sqlrewrite.Analysis) *pgerr.Error {
	if pe := ownNameRefusal(a); pe != nil { // protect_search_variants.go
		return pe
	}
	if a == nil || s.srv.protect == nil {
		return nil
	}
	for _, st := range a.Statements {
		name := st.Executes
		if name == "" {
			continue
		}
		if s.clientStmts[name] != nil {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"EXECUTE of prepared statement %q, which this session prepared with the extended protocol (phiguard rewrote its text for the values of its Binds, which an EXECUTE passes as they are): bind it instead", name)
		}
		if _, kept := s.sqlPrepared[name]; !kept {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"EXECUTE of prepared statement %q, which phiguard has no PREPARE of in this session (after a DEALLOCATE or DISCARD ALL it saw, run or not, it cannot check what the statement reads): PREPARE it again", name)
		}
	}
	return nil
}
