package guard

import (
	"slices"
	"strings"

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
	if idx, ok := c.names().schemas[string(v)]; ok {
		c.path = append(c.path, idx)
	}
}

// onPath reports whether the catalog lists a relation of e's name in a
// schema on the session's search path (any schema when the path was not
// read).
func (c *catalog) onPath(e relName, name string) bool {
	return !c.pathRead || c.firstOnPath(e, name) >= 0
}

// firstOnPath is the index of the first schema of the path the catalog
// lists a relation of e's name in, -1 for none.
func (c *catalog) firstOnPath(e relName, name string) int32 {
	for _, idx := range c.path {
		if e.schema == idx || slices.ContainsFunc(c.names().more[name], func(r relSchema) bool { return r.schema == idx }) {
			return idx
		}
	}
	return -1
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
		s.pathChanges++
		return
	}
	for i := range a.Statements {
		s.pathDeferred = s.pathDeferred || a.Statements[i].DefersPathChange()
		switch s.stmtPath(&a.Statements[i]) {
		case sqlrewrite.PathSet:
			s.pathStale, s.pathTouched = true, true
			s.pathChanges++
		case sqlrewrite.PathUndo, sqlrewrite.PathEnd:
			if s.pathTouched { // a change this undoes
				s.pathStale = true
				s.pathChanges++
			}
			s.pathTouched = s.pathTouched && s.stmtPath(&a.Statements[i]) == sqlrewrite.PathUndo
		}
	}
}

// pathChangedSince: the search path may have changed since a named
// statement's Parse (or its last Bind checked under a changed path), and
// it names a relation unqualified: PostgreSQL analyses it again under the
// new path at its Bind, so phiguard checks it again on the catalog read
// before (bindReprepares), even when another statement had that path
// followed and its names checked meanwhile
// (TestRedTeam33bNamedBindAfterFollowedPath: 65 where PostgreSQL answers
// 6). Client pump.
func (s *Session) pathChangedSince(st *stmtInfo, an *sqlrewrite.Analysis) bool {
	return st.pathChanges != s.pathChanges && namesUnqualified(an)
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
	if typ != pgwire.FeQuery && typ != pgwire.FeParse {
		return false
	}
	return s.unqualifiedAfterChange(a, s.pathStale)
}

// unqualifiedAfterChange: one of a's statements names a relation
// unqualified after a change of the search path (changed: one before a).
func (s *Session) unqualifiedAfterChange(a *sqlrewrite.Analysis, changed bool) bool {
	if a == nil || a.Err != nil {
		return false
	}
	for i := range a.Statements {
		st := &a.Statements[i]
		if changed && stmtUnqualified(st) {
			return true
		}
		changed = changed || s.stmtPath(st) != sqlrewrite.PathKept
	}
	return false
}

// pathChangedWithin: a's statements name a relation unqualified after a
// statement of a's own that may change the search path: the path cannot
// be read before them, and the whole catalog is (viewNamed then takes an
// unqualified name in any schema).
func (s *Session) pathChangedWithin(a *sqlrewrite.Analysis) bool {
	return s.unqualifiedAfterChange(a, false)
}

// readPathFirst reads the search path alone before a request, after a
// statement that may have changed it (pathRecheck), where reading the
// whole catalog again cost tens of milliseconds in a database of
// thousands of relations, at every transaction of an application that
// runs SET LOCAL search_path in each (review32b: 41-83 ms against
// 0.28-0.38 ms, 1,000 tables more). With the path it asks, for each
// relation name the request names unqualified, which schema the name
// resolves in now (resolveQuery): when that is not the first schema of
// the path the catalog lists the name in (a relation made since in a
// schema the new path puts first, or one the catalog lacks), or a name
// is unknown under the new path, the whole catalog is read before the
// request, as it was at every path change. Not when the catalog is stale
// anyway (its read reads the path). Client pump, at a segment's start.
func (s *Session) readPathFirst() {
	a := s.pathRecheck
	if a == nil || s.catalogStale.Load() {
		return
	}
	changed := s.pathStale
	s.pathRecheck, s.pathStale = nil, false
	cur := s.catalog.Load()
	next := *cur
	next.path, next.pathRead, next.whole, next.nowIn = nil, false, cur.wholeRead(), nil
	names := unqualifiedNames(a)
	for _, n := range s.pathNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	next.checked = make(map[string]bool, len(names)+len(cur.checked))
	if !changed { // the same path: the names checked on it stay checked
		for n := range cur.checked {
			next.checked[n] = true
		}
	}
	for _, n := range names {
		next.checked[n] = true
	}
	b := &catalogBuilder{pol: s.policy(), cat: &next, resolved: make(map[string]string, len(names))}
	x := &expectation{kind: expCatalog, catalog: b, done: make(chan struct{})}
	if !s.ownRequest(x, ownMessages(strings.TrimPrefix(pathQuery, ";\n")+resolveQuery(names)+nowInQuery(s.policy()))) {
		s.catalogStale.Store(true)
		return
	}
	if s.awaitBackend(x.done) != answered {
		s.catalogStale.Store(true) // stored when it comes; read whole before the next request
		return
	}
	cat := s.catalog.Load()
	if cat != &next {
		return // the read failed (an aborted transaction): catalogAnswer marked the catalog stale
	}
	if cat.unknownRelation(a, false) != "" || cat.unknownColumnName(a) != "" || !cat.resolvesAsRead(names, b.resolved) {
		s.probeNames = cat.unknownNames(a)
		s.catalogStale.Store(true)
	}
}

// uncheckedName: the catalog was copied by a read of the path alone,
// and one of a's statements names a relation unqualified that no such
// read checked (TestRedTeam32cLaterRequestAfterPathRead: a read of the
// path checked the names of the first request after the change only, and
// a view made before the change in the schema the new path puts first,
// named by a later request, served 65 where PostgreSQL answers 6).
func (c *catalog) uncheckedName(a *sqlrewrite.Analysis) bool {
	if c == nil || c.whole == nil || a == nil || a.Err != nil {
		return false
	}
	for _, n := range unqualifiedNames(a) {
		if !c.checked[n] {
			return true
		}
	}
	return false
}

// unqualifiedNames are the relation names a's statements name without a
// schema (not WITH queries' names), each once.
func unqualifiedNames(a *sqlrewrite.Analysis) []string {
	var out []string
	for i := range a.Statements {
		st := &a.Statements[i]
		for _, t := range st.Tables {
			if unqualifiedTable(st, t) && !slices.Contains(out, t.Name) {
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// resolveQuery asks, for each name, the schema it resolves in under the
// client's search_path: one row of eight fields each (which no other
// part of a catalog read's answer has), the schema NULL for none.
func resolveQuery(names []string) string {
	var q strings.Builder
	for _, n := range names {
		q.WriteString(";\nSELECT " + quoteLiteral(n) + "::pg_catalog.text, (SELECT s.nspname::pg_catalog.text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(" +
			quoteLiteral(quoteIdent(n)) + ")), NULL, NULL, NULL, NULL, NULL, NULL")
	}
	return q.String()
}

// addResolved takes a row of resolveQuery.
func (b *catalogBuilder) addResolved(v [][]byte) {
	if b.resolved != nil {
		b.resolved[string(v[0])] = string(v[1])
	}
}

// resolvesAsRead: each name resolves now in the first schema of the
// path the catalog lists it in (none: the catalog lists it in no schema
// of the path), and the answer had every name.
func (c *catalog) resolvesAsRead(names []string, resolved map[string]string) bool {
	for _, n := range names {
		got, ok := resolved[n]
		if !ok {
			return false
		}
		want := int32(-1)
		if e, listed := c.names().relations[n]; listed {
			want = c.firstOnPath(e, n)
		}
		if idx, known := c.names().schemas[got]; got == "" && want != -1 || got != "" && (!known || idx != want) {
			return false
		}
	}
	return true
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
	return slices.ContainsFunc(st.Tables, func(t sqlrewrite.TableName) bool { return unqualifiedTable(st, t) })
}

// unqualifiedTable: st names t without its schema, and t is not one of
// st's WITH queries.
func unqualifiedTable(st *sqlrewrite.Statement, t sqlrewrite.TableName) bool {
	return t.Schema == "" && !bound(st.CTEs, t.Name)
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
	a = s.withExecuted(a) // an EXECUTE with its PREPARE's names (sql_prepared.go)
	if s.atSegmentStart || s.srv.protect == nil || !s.pathUnknown(pgwire.FeParse, a) && !s.catalog.Load().uncheckedName(a) {
		return nil
	}
	if s.passUnknownRead("\x00search path", s.catalog.Load()) {
		return nil
	}
	s.notePathNames(a)
	s.catalogStale.Store(true) // read whole at the next segment's start, not the path alone
	return pgerr.New(pgerr.SerializationFailure, pathInSegmentMessage)
}

// pathInSegmentBind is pathInSegment for a Bind of a statement naming a
// relation unqualified, inside a segment after a statement that may have
// changed the search path: PostgreSQL analyses a prepared statement
// again when the path changed since its Parse. Met again after a read it
// runs if the fresh catalog does not refuse it (viewWriteRefusal, which
// takes an unqualified name in any schema). A Bind first in its segment,
// named or unnamed, had the catalog read before it when the path may
// have changed (bindReprepares), and bindRefusal checks it on that
// (pathBindCheck). Client pump.
func (s *Session) pathInSegmentBind(info *stmtInfo) *pgerr.Error {
	an := s.withExecuted(info.analysis) // an EXECUTE with its PREPARE's names (sql_prepared.go)
	if !s.pathStale && !s.catalog.Load().uncheckedName(an) || s.firstInSegment || s.srv.protect == nil || !namesUnqualified(an) {
		return nil
	}
	if !s.passUnknownRead("\x00search path", s.catalog.Load()) {
		s.notePathNames(an)
		s.catalogStale.Store(true) // read whole at the next segment's start, not the path alone
		return pgerr.New(pgerr.SerializationFailure, pathInSegmentMessage)
	}
	return s.viewWriteRefusal(info.analysis)
}

// notePathNames keeps the names a statement refused inside a pipeline
// names unqualified, for each read of the path alone to check them too
// (TestRedTeam32cPipelinePerTransaction: a pipeline of two reads after
// SET LOCAL search_path in every transaction had its second refused with
// 40001 in 5 transactions of 6). At most 64.
func (s *Session) notePathNames(a *sqlrewrite.Analysis) {
	for _, n := range unqualifiedNames(a) {
		if !slices.Contains(s.pathNames, n) {
			if len(s.pathNames) >= 64 {
				s.pathNames = s.pathNames[:0]
			}
			s.pathNames = append(s.pathNames, n)
		}
	}
}

const pathInSegmentMessage = "a statement before this one in the pipeline may have changed the search path, and phiguard reads it, with which relations are views over encrypted columns, only between pipelines: this statement did not run; run it again after the next Sync"

// wholeRead is the catalog c was copied from by reads of the path alone,
// c itself when it was read whole.
func (c *catalog) wholeRead() *catalog {
	if c != nil && c.whole != nil {
		return c.whole
	}
	return c
}
