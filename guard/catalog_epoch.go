package guard

import (
	"sync"
	"sync/atomic"
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
// will be current with. Client pump (or the login, before the pumps).
func (s *Session) noteEpochRead() {
	if s.ddlEpoch != nil {
		s.catalogEpoch.Store(s.ddlEpoch.Load())
	}
}

// followOtherSessionsDDL marks the catalog stale when another session of
// the database published DDL since the session's last whole read, for
// awaitFreshCatalog to read it before the request that starts this
// segment. Client pump.
func (s *Session) followOtherSessionsDDL() {
	if s.ddlEpoch == nil || s.ddlEpoch.Load() == s.catalogEpoch.Load() {
		return
	}
	s.catalogStale.Store(true)
	s.objsNeeded = s.objsNeeded || s.restricted() != nil
}

// publishDDL is called by the backend pump when the catalog read behind
// the session's DDL is answered with the transaction status status: idle,
// the DDL is committed (or failed) and the epoch moves now; inside a
// transaction block, when the block ends (transactionEnded).
func (s *Session) publishDDL(status byte) {
	if status != 'I' {
		s.ddlUnpublished = true
		return
	}
	s.ddlUnpublished = false
	if s.ddlEpoch == nil {
		return
	}
	noted := s.catalogEpoch.Load()
	if now := s.ddlEpoch.Add(1); now == noted+1 {
		// No other session published since this session's read, which
		// followed its DDL outside a transaction: it is current.
		s.catalogEpoch.CompareAndSwap(noted, now)
	}
}

// publishDDLAtTransactionEnd publishes DDL a transaction block ran, when
// it ends. Backend pump.
func (s *Session) publishDDLAtTransactionEnd() {
	if s.ddlUnpublished {
		s.ddlUnpublished = false
		if s.ddlEpoch != nil {
			s.ddlEpoch.Add(1) // the session's own read inside it is stale too (catalogAfterTransaction)
		}
	}
}
