package guard

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Which schema an unqualified relation name resolves to
// (TestRedTeam31cNameInUnrelatedSchema). The catalog lists every
// relation's name with its schemas; an unqualified name used to count as
// known when the catalog had it in any schema, so a table o.x, in a
// schema the session does not search, made x a known name, and a view
// public.x another session made since over an encrypted column was not
// read before SELECT n FROM x, which served the length of a ciphertext.
//
// So the catalog read also reads the session's search path
// (current_schemas(true), under the client's search_path, after
// restoreSearchPath), and an unqualified name counts as known only when
// the catalog has it in a schema on that path. The path stays known
// until the session runs a statement that may change it (SET or RESET
// of search_path, the role or the session authorization, RESET ALL,
// set_config of one of those, DISCARD, CALL, DO, a statement phiguard cannot classify;
// and the end of a transaction, or a ROLLBACK TO, after one of those,
// which may undo it): then a statement naming a relation unqualified has
// the catalog, and the path with it, read before it (pathStale). A
// Query that changes the path and names relations after it has the
// catalog read first too; the refusal of a view that reads an encrypted
// column then takes an unqualified name in any schema (viewNamed), as
// before. Inside a pipeline, where the catalog cannot be read, such a
// Parse, or a Bind of a prepared statement (which PostgreSQL analyses
// again under the changed path), is refused with 40001 (pathInSegment,
// pathInSegmentBind). Not seen: a function that changes the path inside
// itself, and a relation made since in a schema of the path before the
// one the catalog lists the name in (docs/catalog.md).

// pathQuery lists the schemas of the session's search path in order,
// in rows of seven fields (which no other part of the catalog's answer
// has). It runs under the client's search_path: every name is qualified.
const pathQuery = `;
SELECT u.s::pg_catalog.text, NULL, NULL, NULL, NULL, NULL, NULL FROM pg_catalog.unnest(pg_catalog.current_schemas(true)) AS u(s)`

// addPathSchema takes a row of pathQuery.
func (b *catalogBuilder) addPathSchema(v []byte) {
	c := b.cat
	c.pathRead = true
	if idx, ok := c.schemas[string(v)]; ok {
		c.path = append(c.path, idx)
	}
}

// onPath reports whether the catalog lists a relation of e's name in a
// schema on the session's search path (any schema when the path was not
// read).
func (c *catalog) onPath(e relName, name string) bool {
	if !c.pathRead {
		return true
	}
	for _, idx := range c.path {
		if idx == e.schema {
			return true
		}
		for _, r := range c.more[name] {
			if r.schema == idx {
				return true
			}
		}
	}
	return false
}

// notePathChange follows a request's statements that may change the
// search path (client pump, at a Query or a Bind, after any catalog read
// before it).
func (s *Session) notePathChange(a *sqlrewrite.Analysis) {
	if a == nil || s.srv.protect == nil {
		return
	}
	if a.Err != nil {
		s.pathStale, s.pathTouched = true, true
		return
	}
	for i := range a.Statements {
		s.pathDeferred = s.pathDeferred || a.Statements[i].DefersPathChange()
		switch s.stmtPath(&a.Statements[i]) {
		case sqlrewrite.PathSet:
			s.pathStale, s.pathTouched = true, true
		case sqlrewrite.PathUndo:
			s.pathStale = s.pathStale || s.pathTouched
		case sqlrewrite.PathEnd:
			s.pathStale = s.pathStale || s.pathTouched
			s.pathTouched = false
		}
	}
}

// stmtPath is st's change of the search path: an EXECUTE, FETCH or MOVE
// changes it as PREPARE p AS SELECT set_config('search_path', ...) or a
// DECLARE of such a query said it would, once the session has run one
// (TestRedTeam32bPathChangedByExecute: EXECUTE p set the path unseen, and
// a view made since in its first schema served the length of a
// ciphertext).
func (s *Session) stmtPath(st *sqlrewrite.Statement) sqlrewrite.PathChange {
	if s.pathDeferred && st.RunsDeferred() {
		return sqlrewrite.PathSet
	}
	return st.PathChange()
}

// pathUnknown: a's statements name a relation unqualified while the
// search path may have changed since the catalog read, or after a
// statement of a's own that may change it.
func (s *Session) pathUnknown(typ byte, a *sqlrewrite.Analysis) bool {
	if a == nil || a.Err != nil || typ != pgwire.FeQuery && typ != pgwire.FeParse {
		return false
	}
	changed := s.pathStale
	for i := range a.Statements {
		st := &a.Statements[i]
		if changed && stmtUnqualified(st) {
			return true
		}
		changed = changed || s.stmtPath(st) != sqlrewrite.PathKept
	}
	return false
}

// namesUnqualified: one of a's statements names a relation without its
// schema (not a WITH query's name).
func namesUnqualified(a *sqlrewrite.Analysis) bool {
	if a == nil || a.Err != nil {
		return false
	}
	for i := range a.Statements {
		if stmtUnqualified(&a.Statements[i]) {
			return true
		}
	}
	return false
}

func stmtUnqualified(st *sqlrewrite.Statement) bool {
	for _, t := range st.Tables {
		if t.Schema == "" && !bound(st.CTEs, t.Name) {
			return true
		}
	}
	return false
}

// pathInSegment refuses a Parse inside a pipeline segment (after its
// first message, where the catalog cannot be read) of a statement naming
// a relation unqualified after a statement that may have changed the
// search path (a pgx batch of SET search_path and a read): phiguard
// cannot tell which schema the name resolves in. As for a relation the
// catalog lacks (passUnknownRead), met again after the next read it
// runs: a pipeline that sets the path and reads in one segment is
// refused every other time. Client pump.
func (s *Session) pathInSegment(a *sqlrewrite.Analysis) *pgerr.Error {
	if s.atSegmentStart || s.srv.protect == nil || !s.pathUnknown(pgwire.FeParse, a) {
		return nil
	}
	if s.passUnknownRead("\x00search path", s.catalog.Load()) {
		return nil
	}
	return pgerr.New(pgerr.SerializationFailure, pathInSegmentMessage)
}

// pathInSegmentBind is pathInSegment for a Bind of a statement naming a
// relation unqualified, inside a segment after a statement that may have
// changed the search path: PostgreSQL analyses a prepared statement
// again when the path changed since its Parse. Met again after a read it
// runs if the fresh catalog does not refuse it (viewWriteRefusal, which
// takes an unqualified name in any schema). A Bind of the unnamed
// statement first in its segment, before which the catalog cannot be
// read (its Query would drop the statement), is let through: refused,
// a client binding only the unnamed statement would be refused for
// ever (TestMatchTermVariantAfterDeallocateAll after DISCARD ALL); the
// catalog is read before the next Query or Parse. Client pump.
func (s *Session) pathInSegmentBind(info *stmtInfo) *pgerr.Error {
	if !s.pathStale || s.firstInSegment || s.srv.protect == nil || !namesUnqualified(info.analysis) {
		return nil
	}
	if !s.passUnknownRead("\x00search path", s.catalog.Load()) {
		return pgerr.New(pgerr.SerializationFailure, pathInSegmentMessage)
	}
	return s.viewWriteRefusal(info.analysis)
}

const pathInSegmentMessage = "a statement before this one in the pipeline may have changed the search path, and phiguard reads it, with which relations are views over encrypted columns, only between pipelines: this statement did not run; run it again after the next Sync"
