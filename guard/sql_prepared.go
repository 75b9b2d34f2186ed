package guard

import (
	"sync"

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
// both (up to maxPreparedKept a name, then it replaces the last). A
// DEALLOCATE of the name, DEALLOCATE ALL or DISCARD ALL drops them when
// its statement completes (confirmCursors, cursors.go), not when it is
// sent: PostgreSQL may not run it (a Parse of DEALLOCATE p never
// executed, SELECT 1/0; DEALLOCATE p, DISCARD ALL inside a transaction
// block), and a PREPARE p sent after it then fails, and must not stand
// for p (TestRedTeam33bPrepareAfterUnrunDeallocate). It drops only the
// statements kept before it was sent, not a PREPARE after it in the
// same request or pipeline.
const maxPreparedKept = 8

// preparedMap is the session's SQL PREPAREs. The client pump adds to it
// and reads it; the backend pump drops from it on confirmation.
type preparedMap struct {
	mu  sync.Mutex
	seq uint64 // numbers the kept statements, in the order sent
	m   map[string][]keptPrepare
}

// keptPrepare is one PREPARE's statement, numbered.
type keptPrepare struct {
	seq uint64
	st  sqlrewrite.Statement
}

// preparedDrop is a DEALLOCATE (name "*": DEALLOCATE ALL or DISCARD ALL)
// waiting for its statement's CommandComplete: it drops the statements
// numbered up to upTo.
type preparedDrop struct {
	name string
	upTo uint64
}

// drop applies d. Backend pump.
func (p *preparedMap) drop(d *preparedDrop) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, kept := range p.m {
		if d.name != "*" && name != d.name {
			continue
		}
		left := kept[:0]
		for _, k := range kept {
			if k.seq > d.upTo {
				left = append(left, k)
			}
		}
		if len(left) == 0 {
			delete(p.m, name)
		} else {
			p.m[name] = left
		}
	}
}

// get is the statements kept for name, and whether there are any.
func (p *preparedMap) get(name string) ([]keptPrepare, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept, ok := p.m[name]
	return kept, ok
}

// noteSQLPrepares follows the PREPAREs of a Query or Parse, and lists its
// DEALLOCATEs in s.preparedDrops for noteCursors to attach to the
// request (freshBeforeUnknown's, before it checks the names). Client
// pump.
func (s *Session) noteSQLPrepares(a *sqlrewrite.Analysis) {
	s.preparedDrops = nil
	if a == nil || a.Err != nil {
		return
	}
	p := &s.sqlPrepared
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range a.Statements {
		st := &a.Statements[i]
		if st.Deallocates != "" {
			s.preparedDrops = append(s.preparedDrops, cursorChange{statement: i,
				drop: &preparedDrop{name: st.Deallocates, upTo: p.seq}})
		}
		if st.Prepares == "" {
			continue
		}
		if p.m == nil {
			p.m = map[string][]keptPrepare{}
		}
		kept := p.m[st.Prepares]
		if len(kept) == maxPreparedKept {
			kept = kept[:maxPreparedKept-1]
		}
		p.seq++
		p.m[st.Prepares] = append(kept, keptPrepare{seq: p.seq, st: *st})
	}
}

// withExecuted is a with the statements of the PREPAREs its EXECUTEs
// run, for the checks of the relations and columns they name. Client
// pump.
func (s *Session) withExecuted(a *sqlrewrite.Analysis) *sqlrewrite.Analysis {
	if a == nil {
		return a
	}
	var more []sqlrewrite.Statement
	for i := range a.Statements {
		if name := a.Statements[i].Executes; name != "" {
			kept, _ := s.sqlPrepared.get(name)
			for _, k := range kept {
				more = append(more, k.st)
			}
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
//   - a name none of the session's PREPAREs kept: PostgreSQL lacks it
//     (26000), or a statement phiguard did not see prepared holds it
//     (a PREPARE run inside a function): nothing to check it by. When
//     phiguard dropped a name's statements as a DEALLOCATE was sent, a
//     Parse of DEALLOCATE p never executed, SELECT 1/0; DEALLOCATE p and
//     DISCARD ALL in a transaction block left p in PostgreSQL, and
//     EXECUTE p, the path changed to a schema with a view of length(s)
//     under p's table's name, served 65 where PostgreSQL answers 6
//     (TestRedTeam33bExecuteAfterUnrunDeallocate).
//
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
		if _, kept := s.sqlPrepared.get(name); !kept {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"EXECUTE of prepared statement %q, which phiguard saw no PREPARE of in this session (it cannot check what the statement reads): PREPARE it through phiguard", name)
		}
	}
	return nil
}

// bindRefusalOf is bindRefusal, and for a Bind of a statement the client
// did not Parse (info nil) that an SQL PREPARE made, a refusal: phiguard
// did not plan it, so its parameters would go in clear and what it names
// is not checked again (PREPARE p AS SELECT n FROM z bound after SET
// search_path put first a schema with a view of length(s) named z served
// 65 where PostgreSQL answers 6, TestRedTeam33bBindOfSQLPrepared). Client
// pump.
func (s *Session) bindRefusalOf(stmt string, info *stmtInfo) *pgerr.Error {
	if info == nil && s.srv.protect != nil {
		if _, kept := s.sqlPrepared.get(stmt); kept {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"Bind of prepared statement %q, which this session made with SQL PREPARE (phiguard did not plan it for the extended protocol): run it with EXECUTE, or Parse it", stmt)
		}
	}
	return s.bindRefusal(info)
}
