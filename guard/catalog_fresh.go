package guard

import (
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// The catalog is read at login and again behind a request that ran DDL
// (refreshCatalogAfterDDL). Two events make it stale with no DDL in this
// session: a policy reload that changed the protected tables (bindPolicy),
// and the column guard of a filled column list failing in the backend
// because another session's DDL changed a table's columns
// (sqlrewrite.GuardColumnOrder). A read that fails (inside a failed
// transaction) leaves the catalog stale too, and is tried again. A catalog read behind the next request
// would come too late for that request: a newly encrypted column would be
// returned as raw cells, and a retried INSERT without a column list would
// be filled from the same stale catalog and fail again. So the client pump
// reads the catalog first and waits for the answer, at the next Query,
// Parse or Bind that starts a protocol segment (a Bind only of a prepared
// statement phiguard prepares again, reprepare.go, bindReprepares; after
// a Sync, so the backend is
// not skipping messages after an error and will answer the query). A
// read that fails (in a failed transaction, whose ROLLBACK is often the
// very request it precedes) leaves the catalog stale, to be read before
// the request after (catalogAnswer). A third event: the end of a
// transaction inside which the catalog was read, and whose DDL the read
// saw, may have undone that DDL (catalogAfterTransaction). A fourth: a
// result naming a column of a protected table the catalog does not list
// (describeFields), added by another session's DDL.

// A fifth: a COPY ... FROM STDIN whose column list leaves an encrypted
// column out (freshBeforeCopy). Its text has no place for the default
// guard (COPY's WHERE takes no subquery), so the catalog is read before
// it, and a default another session gave the column since the last read
// refuses it (0A000, checkDefaults), as the guard's 40001 and the retry
// refuse an INSERT, instead of storing NULL where PostgreSQL would store
// the default. The NULL field phiguard sends for the column in every row
// (protect_copy.go) covers DDL committed between that read and the COPY.

// A sixth (below, freshBeforeCopy): a statement leaving encrypted columns
// to defaults only the catalog checks. A seventh: a Query or Parse that
// names a relation the catalog does not list, perhaps a view over an
// encrypted column another session made since (freshBeforeUnknown,
// catalog_names.go); inside a pipeline, where it cannot be read, such a
// Parse of a write is refused (unknownWriteInSegment). An eighth: a result field of a relation made since
// the read, or a value phiguard does not decrypt holding a cell
// (mapFields, strayCellRefusal): the result is refused and the catalog
// read before the next request (docs/catalog.md).

// freshCatalogWait bounds that wait. A client that pipelines more than
// the sockets hold without reading its answers would otherwise hold both
// pumps; after it, the request is planned on the catalog it has (writes
// to a filled column list stay guarded) and the answer is stored when it
// comes.
const freshCatalogWait = 5 * time.Second

// freshBeforeCopy marks the catalog stale before a Query or Parse of a COPY
// ... FROM STDIN leaving encrypted columns out, for awaitFreshCatalog to
// read it first. Client pump.
//
// A sixth: a statement that leaves encrypted columns to their defaults in
// a shape the default guard has no place in (INSERT ... SELECT, DEFAULT
// VALUES, several statements in one Query: Plan.DefaultsUnguarded), which
// only the catalog checks. Without the read, a default another session
// set since the last one was stored in clear. A named such statement has
// the catalog read before each of its Binds too (bindReprepares). DDL
// between that read and the statement meets the default guard, which an
// INSERT ... SELECT with one select list and DEFAULT VALUES carry as well
// (sqlrewrite/default_guard_select.go); a set operation, several
// statements and a column the role may not insert have the read alone.
//
// A ninth: any COPY ... FROM STDIN into a protected table, whose WHERE
// has no place for the judges guard (sqlrewrite/judges_guard.go): the
// read lists a constraint or policy another session added since, which
// judgedRefusal then refuses (0A000) before the COPY judges its rows on
// the ciphertext. DDL between that read and the COPY is not seen.
func (s *Session) freshBeforeCopy(typ byte, a *sqlrewrite.Analysis) {
	s.freshCopy = false // bindReprepares sets it too, after this
	s.readFailedUsable.Store(false)
	if typ != pgwire.FeQuery && typ != pgwire.FeParse || a == nil || a.Err != nil || s.srv.protect == nil {
		return
	}
	plan := a.PlanUnder(s.policy())
	if plan.DefaultsUnguarded || len(a.Statements) == 1 && plan.Copy != nil && plan.Copy.In && (len(plan.Defaults) > 0 || plan.Copy.Table != nil) {
		s.catalogStale.Store(true)
		s.freshCopy = true
	}
}

// unreadCopyRefusal refuses the request freshBeforeCopy (or, for the
// Bind of a named INSERT leaving encrypted columns to defaults only the
// catalog checks, bindReprepares) had the catalog read before when that
// read failed (a cancel, the client's statement_timeout at its first
// statement) and left the transaction usable: outside a block, or in one
// rolled back to the read's savepoint (own_recover.go). PostgreSQL runs
// the request then, and a COPY judged its rows on the ciphertext under a
// CHECK another session added (COPY 1 where PostgreSQL answers 23514,
// TestReview40CopyAfterFailedRead). A read that failed in a block
// without its savepoint aborted it, and PostgreSQL fails the request
// itself (25P02). Client pump.
func (s *Session) unreadCopyRefusal() *pgerr.Error {
	if !s.freshCopy || !s.readFailedUsable.Load() {
		return nil
	}
	return pgerr.New(pgerr.FeatureNotSupported,
		"phiguard could not read the catalog before this COPY FROM STDIN or INSERT leaving encrypted columns to their defaults (its read failed: statement_timeout, a cancel): run it again")
}

// awaitFreshCatalog reads the catalog before a request when it is known
// stale. Client pump.
func (s *Session) awaitFreshCatalog(typ byte) error {
	s.firstInSegment = !s.segmentOpen
	s.atSegmentStart = !s.segmentOpen && (typ == pgwire.FeQuery || typ == pgwire.FeParse || typ == pgwire.FeBind && s.bindReprepares())
	switch typ {
	case pgwire.FeSync:
		s.segmentOpen = false
	case pgwire.FeQuery:
		// A Query inside an extended segment not yet synced leaves it
		// open: should a message before it have failed, PostgreSQL
		// skips the Query and all up to the Sync, and a read sent
		// after the Query was skipped too, its own Sync ending the
		// skip and its ReadyForQuery taken for the client's (no
		// ReadyForQuery reached the client, TestReview40ErrorThen
		// QueryThenRead). Until the client's Sync the catalog is read
		// no more, as inside any pipeline.
	case pgwire.FeParse, pgwire.FeBind, pgwire.FeDescribe, pgwire.FeClose, pgwire.FeExecute, pgwire.FeFlush:
		s.segmentOpen = true
	}
	if s.srv.protect == nil {
		return nil
	}
	if !s.atSegmentStart {
		if typ == pgwire.FeBind && s.firstInSegment {
			// Any Bind first in its segment waits for the read behind
			// the session's own DDL (which sends nothing): bound at once
			// after CREATE TEMP TABLE x, a statement whose plan took x's
			// name in public.x for a plain column was checked on the
			// catalog from before, and sent 't1' in clear for the outer
			// encrypted column (TestRedTeam36Prepared: 0 rows where
			// PostgreSQL answers 8).
			return s.awaitCatalogInFlight()
		}
		return nil
	}
	if err := s.awaitCatalogInFlight(); err != nil {
		return err
	}
	s.followOtherSessionsDDL()                      // catalog_epoch.go
	s.followCatalogAge()                            // catalog_epoch.go
	s.readPathFirst()                               // catalog_path_follow.go
	if !s.catalogStale.Load() || s.adoptCatalog() { // catalog_coalesce.go
		return nil
	}
	if !s.readCatalogNow() {
		select {
		case <-s.backendDone:
			return errBackendDone
		default:
		}
	}
	return nil
}

// bindReprepares reports whether the Bind being handled names a statement
// phiguard will prepare again (reprepare.go), or one bound after a change
// the catalog must be read for (below: another session's DDL, the path,
// and for a named statement a default or a view), the only Binds the
// catalog is read before. The read no longer drops the client's unnamed
// statement and portal (own_messages.go; a simple Query did, and the
// unnamed statement was left out then), so the unnamed statement bound
// first in its segment (pgx's describe-exec, pgconn's Prepare and
// ExecPrepared of "") is read before after another session's DDL or a
// change of the path, as a named one is (TestUnnamedBindAfterOther
// SessionsDDL). The reads before each Bind of a statement over a default
// or a view stay the named statement's: a describe-then-execute client
// would pay a catalog read (14 to 44 ms) for every execution of such a
// statement, for the window between its two segments. An unnamed
// statement phiguard prepares again is Parsed anew after the read
// anyway. Client pump.
func (s *Session) bindReprepares() bool {
	body, err := s.cr.Body()
	if err != nil {
		return false // onBind reports it
	}
	_, nameBytes, _, ok := bindSummary(body)
	if !ok {
		return false
	}
	name := s.bindNames.intern(nameBytes)
	st, err := s.boundStatement(name) // onBind's, resolved once more
	if err != nil || st == nil {
		return false
	}
	// A named statement bound after another session's DDL since the
	// last read (catalog_epoch.go): PostgreSQL analyses it again if the
	// DDL touched what it names, and may resolve a name elsewhere then;
	// read first, and bindRefusal checks it on the fresh catalog.
	moved := s.otherSessionsDDL()
	s.pathBindCheck = s.pathBindCheck || moved
	if name != "" && st.plan != nil && st.plan.DefaultsUnguarded {
		// A named statement leaving encrypted columns to defaults only
		// the catalog checks (INSERT ... SELECT, DEFAULT VALUES):
		// another session may have set one since its Parse, so the
		// catalog is read before each Bind, and checkDefaults
		// (bindRefusal) refuses it then, or unreadCopyRefusal when the
		// read fails.
		s.catalogStale.Store(true)
		s.freshCopy = true
		return true
	}
	an := s.withExecuted(st.analysis) // an EXECUTE with its PREPARE's names (sql_prepared.go)
	if !s.pathStale && s.pathChangedSince(st, an) && !s.catalog.Load().uncheckedName(an) {
		// The path changed since its Parse and was read since, with
		// its names: bindRefusal checks it on the catalog as it is.
		s.pathBindCheck = true
	}
	if s.pathStale || s.catalog.Load().uncheckedName(an) {
		// A statement bound after the search path may have
		// changed: PostgreSQL analyses one naming a relation unqualified
		// again under the new path (catalog_path_follow.go), and
		// bindRefusal decides on the fresh catalog; read before any, so
		// that a pipeline that sets the path first reads it once.
		s.catalogStale.Store(true)
		s.pathBindCheck = moved || namesUnqualified(an)
		return true
	}
	if name != "" && (st.writesThroughRules(s.catalog.Load()) || an != st.analysis && s.catalog.Load().writesThroughRules(an)) {
		// A named write through a view or a table with rules, which
		// another session may have replaced since its Parse
		// (catalog_names.go); bindRefusal decides on the fresh catalog.
		s.catalogStale.Store(true)
		return true
	}
	return moved || st.again != nil && st.guardFailed.Load()
}

// awaitCatalogInFlight waits, bounded, for the catalog read queued behind
// the session's own DDL (refreshCatalogAfterDDL): the client sends its
// next request as soon as the DDL's ReadyForQuery reaches it, before the
// backend pump has taken the read's answer that follows, and a request
// planned on the catalog from before the DDL would not know the new or
// changed table (a column taken to have a default, a result column not
// decrypted). Client pump.
func (s *Session) awaitCatalogInFlight() error {
	q := s.catalogInFlight
	if q == nil {
		return nil
	}
	s.catalogInFlight = nil
	switch s.awaitBackend(q.x.done) {
	case backendEnded:
		return errBackendDone
	case answered:
		s.recoverOwnRead(q.x, q.savepointed) // own_recover.go
	}
	return nil
}

// readCatalogNow reads the catalog and waits, bounded, for the backend
// pump to store it (catalogAnswer); false when it did not. Only where
// the backend answers at once: at the start of a protocol segment.
// Client pump.
func (s *Session) readCatalogNow() bool {
	s.catalogStale.Store(false)
	s.pathStale, s.pathRecheck = false, nil // the read reads the path (catalog_path_follow.go)
	s.ddlSeen = false                       // read now, not again behind this request
	s.reloadUnread = false
	s.readFailedUsable.Store(false)
	b := newCatalogBuilder(s.policy())
	b.probes, s.probeNames = s.probeNames, nil
	b.coal.lead, s.coalesceLead = s.coalesceLead, nil // catalog_coalesce.go
	x := &expectation{kind: expCatalog, catalog: b, done: make(chan struct{})}
	return s.ownRequest(x, s.catalogQueryMessage(b))
}

// catalogAfterTransaction runs when the session's transaction has ended
// (ReadyForQuery 'I'). A catalog read inside it (after the session's own
// DDL, or before a request) saw the transaction's uncommitted DDL, which
// a ROLLBACK undoes: ALTER TABLE ... RENAME ssn, ADD COLUMN ssn, ROLLBACK
// left the catalog naming the rolled-back column, so reads of ssn came
// back as stored cells and an INSERT without a column list named a
// column that no longer exists, until the session's next DDL. Read it
// again before the next request. Backend pump.
func (s *Session) catalogAfterTransaction() {
	if s.catalogInTx {
		s.catalogInTx = false
		s.catalogStale.Store(true)
	}
}

// staleInSegment refuses a Parse of a statement on a protected table
// while a reload that changed the protected tables has not been followed
// by a catalog read, inside an open protocol segment, where
// awaitFreshCatalog cannot read it (its Query would end the segment's
// implicit transaction, or be skipped after an error): a reload that
// encrypts another column, reached at a Bind or Parse after the segment
// began, left a SELECT of that column Parsed in the rest of the segment
// returning its stored cells. The next segment reads the catalog first.
// Only a reload: the other events that make the catalog stale are the
// backend's answers, which a pipelining client outruns at any point of
// its next segments, where the column guard covers the writes. Client
// pump.
func (s *Session) staleInSegment(plan *sqlrewrite.Plan) *pgerr.Error {
	if plan == nil || !plan.Protected || !s.reloadUnread {
		return nil
	}
	return pgerr.New(pgerr.SerializationFailure,
		"phiguard's policy or the tables it protects changed while this pipeline was open, and phiguard reads them only between pipelines: this statement did not run; run it again after the next Sync")
}

// catalogAnswer consumes one message of phiguard's own catalog query.
func (s *Session) catalogAnswer(head *expectation, typ byte) error {
	body, err := s.br.Body()
	if err != nil {
		return err
	}
	if err := head.catalog.add(typ, body); err != nil {
		return err
	}
	if typ == pgwire.BeReadyForQuery {
		s.expects.pop()
		if head.done != nil {
			defer close(head.done)
		}
		if head.catalog.coal.keyOnly {
			return nil // keyQuery alone (adoptCatalog)
		}
		if len(body) == 1 && head.catalog.cat.whole == nil { // not the path alone (readPathFirst)
			if body[0] != 'I' {
				s.catalogInTx = true // read again once the transaction ends
			} else {
				head.catalog.cat.namedSnapshot = false // its own transaction's snapshot, of its moment (catalog_unshadowed.go)
			}
		}
		if head.catalog.afterDDL && len(body) == 1 && body[0] == 'I' {
			if e := s.ownReadCurrent(); e == head.catalog.coal.epoch+1 { // catalog_epoch.go
				head.catalog.coal.epoch = e
			}
		}
		if head.catalog.failure != "" {
			// Inside a failed transaction, say: keep the catalog it had,
			// and read it again before the next request that starts a
			// segment (catalog_fresh.go), until a read succeeds. Else a
			// statement the column guard refused in a transaction, run
			// again after ROLLBACK as 40001 asks, is filled from the same
			// stale catalog and refused at every retry.
			s.catalogStale.Store(true)
			s.readFailedUsable.Store(len(body) == 1 && body[0] == 'I') // unreadCopyRefusal
			s.log.Info("catalog not refreshed", zap.String("reason", head.catalog.failure))
			s.keepRead(head.catalog, nil) // catalog_coalesce.go
			return nil
		}
		cat := head.catalog.share(s.srv, s.database) // catalog_shared.go
		s.catalog.Store(cat)
		s.keepRead(head.catalog, cat) // catalog_coalesce.go
	}
	return nil
}
