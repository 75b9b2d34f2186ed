package guard

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// Each session reads its catalog on its own backend connection, and read
// it again only after DDL of its own (refreshCatalogAfterDDL) or one of
// the other events in catalog_fresh.go. DDL another session sent through
// phiguard did not reach it: after session a dropped a protected table
// and made it again (a new OID), session b refused the table's rows as
// cells of a relation it did not know (40001) until its own next read
// (TestDDLThroughAnotherSessionRefreshes).
//
// So the sessions of a database share one refresh path: a count of the
// transactions with DDL that ended in any session of the database, its
// DDL epoch. A session notes the epoch when it sends a whole catalog
// read (catalogQueryMessage), and at the start of each protocol segment
// (awaitFreshCatalog) a different epoch makes it read the catalog first,
// and its access objects after the request (restricted roles). A
// session publishes its DDL when the catalog read behind it is answered
// outside a transaction block, or when the transaction block it ran in
// ends (committed or not: a rolled back one costs a read, no more). The
// epoch moves only after the backend reported the end, so a read the
// epoch's change makes follows a committed catalog; a read that was
// already running notes the epoch before it, and is followed by another.
//
// A Bind of a named statement first in its segment is such a start too
// when the epoch moved (bindReprepares): a client of prepared statements
// alone followed no other session's DDL, and PostgreSQL analyses such a
// statement again when DDL touched what it names.
//
// What this does not see: DDL sent to the database directly, not
// through phiguard, and DDL another session commits between a session's
// segment start and its statement (docs/catalog.md, "What is left").

// ddlEpochs are the databases' DDL epochs, by database name. A Shared's
// zero value is ready: the map is made at first use.
type ddlEpochs struct {
	mu sync.Mutex
	m  map[string]*atomic.Uint64
}

// of is database's epoch, made at 0 the first time it is asked for. The
// pointer is kept by the session, which loads and adds to it without the
// lock.
func (e *ddlEpochs) of(database string) *atomic.Uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]*atomic.Uint64{}
	}
	c := e.m[database]
	if c == nil {
		c = new(atomic.Uint64)
		e.m[database] = c
	}
	return c
}

// noteEpochRead records the epoch a whole catalog read about to be sent
// will be current with, and returns it with the time noted. Client pump
// (or the login, before the pumps).
func (s *Session) noteEpochRead() (epoch uint64, at int64) {
	at = time.Now().UnixNano()
	s.catalogReadAt.Store(at)
	if s.ddlEpoch != nil {
		epoch = s.ddlEpoch.Load()
		s.catalogEpoch.Store(epoch)
	}
	return epoch, at
}

// followCatalogAge marks the catalog stale when its last whole read is
// older than limits.catalog_max_age: DDL sent to the database directly
// moves no epoch, and this bounds how long the session works from a
// catalog that does not know it (a view replaced, a constraint or
// policy added: docs/catalog.md, "What is left"). Client pump.
func (s *Session) followCatalogAge() {
	maxAge := time.Duration(s.srv.cfg.Limits.CatalogMaxAge)
	if maxAge <= 0 || time.Now().UnixNano()-s.catalogReadAt.Load() < int64(maxAge) {
		return
	}
	if !s.catalogStale.Swap(true) && s.srv.metrics != nil && s.srv.metrics.CatalogReadsForAge != nil {
		s.srv.metrics.CatalogReadsForAge.Inc()
	}
}

// otherSessionsDDL reports whether another session of the database
// published DDL since the session's last whole catalog read. Client pump.
func (s *Session) otherSessionsDDL() bool {
	return s.ddlEpoch != nil && s.ddlEpoch.Load() != s.catalogEpoch.Load()
}

// followOtherSessionsDDL marks the catalog stale when another session of
// the database published DDL since the session's last whole read, for
// awaitFreshCatalog to read it before the request that starts this
// segment. Client pump.
func (s *Session) followOtherSessionsDDL() {
	if !s.otherSessionsDDL() {
		return
	}
	if was, mark := s.catalogStale.swapMark(true); !was {
		s.adoptMark = mark // catalog_coalesce.go
		if s.srv.metrics != nil {
			s.srv.metrics.CatalogReadsForOtherDDL.Inc()
		}
	}
	s.objsNeeded = s.objsNeeded || s.restricted() != nil
}

// publishDDL is called by the backend pump at the ReadyForQuery of a
// request that ran the client's DDL, before the client has it, with its
// transaction status: idle, the DDL is committed (or failed) and the
// epoch moves now; inside a transaction block, when the block ends
// (publishDDLAtTransactionEnd). Moving it at the catalog read behind the
// DDL instead came too late: the client had the DDL's answer and told
// another session, whose next statement ran on its old catalog.
func (s *Session) publishDDL(status byte) {
	if status != 'I' {
		s.ddlUnpublished = true
		return
	}
	s.ddlUnpublished = false
	if s.ddlEpoch != nil {
		s.publishedAt = s.ddlEpoch.Add(1)
		s.leadOwnRead() // catalog_coalesce.go
	}
}

// ownReadCurrent is called by the backend pump when the catalog read
// queued behind the client's DDL is answered outside a transaction block:
// when no other session published between the read's noting of the
// epoch and this session's publishing of its DDL, the read, which ran
// after the DDL, is current with the epoch, and the session need not
// read again at its next segment. It returns the epoch the read is
// current with then, 0 when it did not move it.
func (s *Session) ownReadCurrent() (current uint64) {
	if noted := s.catalogEpoch.Load(); s.publishedAt != 0 && s.publishedAt == noted+1 && s.catalogEpoch.CompareAndSwap(noted, s.publishedAt) {
		current = s.publishedAt
	}
	s.publishedAt = 0
	return current
}

// publishDDLAtTransactionEnd publishes DDL a transaction block ran, when
// it ends. Backend pump.
func (s *Session) publishDDLAtTransactionEnd() {
	if s.ddlUnpublished {
		s.ddlUnpublished = false
		s.catalogStale.Store(true) // before the epoch moves: the session reads its own (catalog_coalesce.go)
		if s.ddlEpoch != nil {
			s.ddlEpoch.Add(1) // the session's own read inside it is stale too (catalogAfterTransaction)
		}
	}
}

// noteDDL notes DDL in a, a Query's or Parse's statements or a bound
// statement's (a client binding a prepared DDL statement again, with no
// Parse): the catalog is read after the request (refreshCatalogAfterDDL),
// and DDL other sessions see is published at its ReadyForQuery. Client
// pump.
//
// COMMIT PREPARED and ROLLBACK PREPARED count as DDL other sessions see:
// the PREPARE TRANSACTION before them ended the transaction block, and
// published its DDL then, before it was committed; another session that
// read its catalog in between would keep the catalog from before.
func (s *Session) noteDDL(a *sqlrewrite.Analysis) {
	if a == nil || s.srv.protect == nil {
		return
	}
	for _, st := range a.Statements {
		ddl := st.Kind == sqlrewrite.KindDDL
		s.ddlSeen = s.ddlSeen || ddl || st.EndsPrepared
		s.ddlOwn = s.ddlOwn || ddl && !st.SessionLocal || st.EndsPrepared
	}
}
