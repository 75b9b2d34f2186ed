package guard

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phiguard/phiguard/policy"
)

// Coalesced catalog reads (limits.catalog_coalesce). One session running
// DDL in a loop moved the DDL epoch (catalog_epoch.go) at each statement,
// and every other session of the database read its whole catalog again
// before its next request, 14-44 ms each in a database of thousands of
// relations: a session's 7,371 queries a second fell to 448 with another
// at 80 DDL a second (TestRedTeam34EpochLoad). The reads of two sessions
// whose catalog is the same are one read: sessions of one database share
// each read made outside a transaction block, by what it depends on.
//
// What a whole read (catalogQueryMessage) depends on, besides the
// database's committed catalog at the moment it runs:
//   - the policy (its protected tables, whose columns the rows point to);
//   - the role the privileges are asked for (noInsert, the USAGE and
//     SELECT of search.RecordsQuery, row security of
//     phiguard.search_objects): CURRENT_USER, which SET ROLE changes, and
//     SESSION_USER with it;
//   - the search path as it resolves (pathQuery, nowInQuery, latestQuery
//     run under the client's): current_schemas(true), which names every
//     schema searched, $user resolved and pg_temp's own included;
//   - the session's temporary schema (searched first for relations and
//     types, even under the pinned path pg_catalog, pg_temp): a session
//     that has one (pg_my_temp_schema() <> 0) never shares;
//   - the settings that change the text of the answer: client_encoding,
//     and those the deparsed constraint definitions and format_type obey
//     (standard_conforming_strings, quote_all_identifiers, DateStyle,
//     IntervalStyle, TimeZone, extra_float_digits, bytea_output), and
//     row_security;
//   - the transaction's snapshot: only a read answered outside a
//     transaction block (its ReadyForQuery 'I': the read was its own
//     implicit transaction, whose snapshot was taken after it was sent)
//     is shared, and only a session outside one adopts;
//   - latestQuery's probes, the session's own: a read with probes is not
//     shared, a session with probes to ask reads its own.
//
// So every whole read ends with keyQuery, one row of those values read
// with the rest, and a read answered with 'I', with no probe, failure or
// temporary schema, is kept (Shared.coalesce) under its database, policy
// and that row, with the epoch it noted when it was sent (the read
// started after that epoch was published, and saw the DDL that moved
// it). A session that must read its catalog again only because another
// session's DDL moved the epoch (followOtherSessionsDDL, and nothing else
// marked the catalog stale since: staleFlag's marks) asks keyQuery alone
// first (a fraction of a millisecond), outside a transaction block (its
// answer's ReadyForQuery says), and takes the kept catalog of the same
// key when its epoch is the current one, instead of reading; when
// another session of the key is reading at the current epoch, it waits
// for that read (bounded, freshCatalogWait) instead of reading too; else
// it reads, and its read is the one the others wait for. A session's own
// DDL still has its own read behind it (refreshCatalogAfterDDL), which is
// kept for the others when it was answered outside a transaction block.
// Anything else that marks the catalog stale (the age limit, a reload,
// a column or relation the catalog lacks, a transaction's end after a
// read inside it, probes) has the session read its own, as before.
// Catalogs are read-only once stored, so adopting one is taking its
// pointer. At most maxCoalescedKeys keys per database are kept, and only
// at the latest epoch a read was kept at; a read older than
// coalesceMaxAge is not taken.
//
// A session's DDL publishes the epoch at its ReadyForQuery, before the
// read queued behind it is answered: the other sessions would each
// follow the epoch and read before that read is kept. So at the publish,
// that read becomes the one they wait on (leadOwnRead), under the key of
// the session's last kept read; its answer completes it when its key is
// still that one (else they read their own).

// keyQuery is the row of what a read depends on in the session, eleven
// fields (which no other part of the answer has). It runs under the
// client's search_path: every name is qualified.
const keyQuery = `;
SELECT CURRENT_USER::pg_catalog.text, SESSION_USER::pg_catalog.text, pg_catalog.current_schemas(true)::pg_catalog.text,
  pg_catalog.pg_my_temp_schema()::pg_catalog.text, ARRAY[pg_catalog.current_setting('client_encoding'),
  pg_catalog.current_setting('standard_conforming_strings'), pg_catalog.current_setting('quote_all_identifiers'),
  pg_catalog.current_setting('DateStyle'), pg_catalog.current_setting('IntervalStyle'), pg_catalog.current_setting('TimeZone'),
  pg_catalog.current_setting('extra_float_digits'), pg_catalog.current_setting('bytea_output'),
  pg_catalog.current_setting('row_security')]::pg_catalog.text, pg_catalog.current_database()::pg_catalog.text,
  NULL, NULL, NULL, NULL, NULL`

// maxCoalescedKeys bounds the keys kept per database.
const maxCoalescedKeys = 64

// coalesceMaxAge is the age past which a kept read is not taken: a read
// the epoch's move makes also sees DDL sent to the database directly
// since the last (which moves no epoch), and a much older one would not.
// Below limits.catalog_max_age's default, which a taken read's age
// counts toward (the session notes the read's time, not its own).
const coalesceMaxAge = 10 * time.Second

// coalesceKey is what a read depends on: the policy, and keyQuery's row.
type coalesceKey struct {
	pol *policy.Policy
	row string
}

// readKey is a builder's part in coalescing: the key its keyQuery row
// made (keyed; temp: the session has a temporary schema), the
// ReadyForQuery status of its answer, the epoch and time it noted when
// sent, keyOnly for keyQuery alone (adoptCatalog), and lead, the kept
// read other sessions wait on that this read completes.
type readKey struct {
	row     string
	keyed   bool
	temp    bool
	status  byte
	epoch   uint64
	readAt  int64
	keyOnly bool
	lead    *leadRead
}

// addKey takes keyQuery's row.
func (k *readKey) addKey(v [][]byte) {
	var b []byte
	for _, f := range v[:6] {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	k.row, k.keyed, k.temp = string(b), true, string(v[3]) != "0"
}

// shareable: the read may be kept for other sessions, or adopted.
func (k *readKey) shareable() bool { return k.keyed && !k.temp && k.status == 'I' }

// coalescedRead is a kept read: done is closed when it completed (cat
// set) or failed (cat nil). Fields other than done are guarded by
// coalescedReads.mu until done is closed, read-only after.
type coalescedRead struct {
	epoch    uint64
	cat      *catalog
	readAt   int64
	since    time.Time
	finished bool
	done     chan struct{}
}

// coalescedReads are the kept reads, by database and key.
type coalescedReads struct {
	mu  sync.Mutex
	dbs map[string]map[coalesceKey]*coalescedRead
}

// join returns the kept read of key current with epoch, completed or
// still running (started less than freshCatalogWait ago), or a new
// one the caller must read and complete (lead).
func (c *coalescedReads) join(db string, key coalesceKey, epoch uint64) (e *coalescedRead, lead bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.of(db)
	if e := m[key]; e != nil && e.epoch >= epoch && (e.cat != nil || !e.finished && time.Since(e.since) < freshCatalogWait) {
		return e, false
	}
	e = &coalescedRead{epoch: epoch, since: time.Now(), done: make(chan struct{})}
	c.keep(m, key, e)
	return e, true
}

func (c *coalescedReads) of(db string) map[coalesceKey]*coalescedRead {
	if c.dbs == nil {
		c.dbs = map[string]map[coalesceKey]*coalescedRead{}
	}
	m := c.dbs[db]
	if m == nil {
		m = map[coalesceKey]*coalescedRead{}
		c.dbs[db] = m
	}
	return m
}

// keep puts e under key, dropping the reads of older epochs, and reads
// past maxCoalescedKeys. c.mu held.
func (c *coalescedReads) keep(m map[coalesceKey]*coalescedRead, key coalesceKey, e *coalescedRead) {
	m[key] = e
	for k, o := range m {
		if o.epoch < e.epoch || len(m) > maxCoalescedKeys && k != key {
			delete(m, k)
		}
	}
}

// complete ends lead (nil for none) with cat, a read of key noted at
// epoch, and keeps cat for key unless a later read is kept, or one is
// running; cat nil: the read failed or may not be shared.
func (c *coalescedReads) complete(db string, key coalesceKey, lead *coalescedRead, cat *catalog, epoch uint64, readAt int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.of(db)
	if lead != nil && !lead.finished {
		lead.cat, lead.readAt, lead.finished = cat, readAt, true
		close(lead.done)
	}
	cur := m[key]
	switch {
	case cat == nil:
		if cur != nil && cur == lead {
			delete(m, key)
		}
	case cur == nil || cur.finished && cur.epoch <= epoch:
		done := make(chan struct{})
		close(done)
		c.keep(m, key, &coalescedRead{epoch: epoch, cat: cat, readAt: readAt, finished: true, done: done})
	}
	if len(m) == 0 {
		delete(c.dbs, db)
	}
}

// staleFlag is catalogStale: an atomic.Bool that counts the times it is
// set, so that adoptCatalog tells a catalog stale for another session's
// DDL alone from one something else marked since.
type staleFlag struct {
	b     atomic.Bool
	marks atomic.Uint64
}

func (f *staleFlag) Load() bool { return f.b.Load() }

func (f *staleFlag) Store(v bool) {
	if v {
		f.marks.Add(1)
	}
	f.b.Store(v)
}

func (f *staleFlag) Swap(v bool) bool {
	was, _ := f.swapMark(v)
	return was
}

// swapMark is Swap, and the count of marks with this one.
func (f *staleFlag) swapMark(v bool) (was bool, mark uint64) {
	if v {
		mark = f.marks.Add(1)
	}
	return f.b.Swap(v), mark
}

// adoptCatalog takes, in place of a whole read before a request, a read
// another session of the same key made since the epoch moved; false when
// the session must read (and, when it leads, its read completes the one
// others of its key wait on). Client pump, at a segment's start, the
// catalog stale.
func (s *Session) adoptCatalog() bool {
	mark := s.adoptMark
	s.adoptMark = 0
	if mark == 0 || s.catalogStale.marks.Load() != mark || len(s.probeNames) > 0 || s.ddlEpoch == nil || !s.srv.cfg.Limits.CatalogCoalesce {
		return false
	}
	b := &catalogBuilder{pol: s.policy(), coal: readKey{keyOnly: true}}
	x := &expectation{kind: expCatalog, catalog: b, done: make(chan struct{})}
	if !s.ownRequest(x, ownMessages(keyQuery[2:])) || b.failure != "" || !b.coal.shareable() {
		return false
	}
	key := coalesceKey{pol: b.pol, row: b.coal.row}
	e, lead := s.srv.coalesce.join(s.database, key, s.ddlEpoch.Load())
	if lead {
		s.coalesceLead = &leadRead{key: key, read: e}
		return false
	}
	if s.awaitBackend(e.done) != answered || e.cat == nil || s.catalogStale.marks.Load() != mark {
		return false
	}
	if time.Now().UnixNano()-e.readAt >= int64(coalesceMaxAge) {
		return false // the session reads, and its read is kept in this one's place
	}
	s.catalogStale.Store(false)
	s.pathStale, s.pathRecheck = false, nil // as readCatalogNow: the read read the path, the same
	s.ddlSeen, s.reloadUnread = false, false
	s.catalogReadAt.Store(e.readAt)
	s.catalogEpoch.Store(e.epoch)
	s.catalog.Store(e.cat)
	if s.srv.metrics != nil && s.srv.metrics.CatalogReadsCoalesced != nil {
		s.srv.metrics.CatalogReadsCoalesced.Inc()
	}
	return true
}

// leadRead is a kept read the session's next whole read completes.
type leadRead struct {
	key  coalesceKey
	read *coalescedRead
}

// keepRead keeps a completed whole read for the database's other
// sessions when it may be shared, and completes the read others wait on
// that it leads. Backend pump (or the login).
func (s *Session) keepRead(b *catalogBuilder, cat *catalog) {
	k := &b.coal
	if k.keyOnly || b.cat != nil && b.cat.whole != nil || !s.srv.cfg.Limits.CatalogCoalesce {
		return // keyQuery alone, or the path alone (readPathFirst)
	}
	key := coalesceKey{pol: b.pol, row: k.row}
	ok := cat != nil && b.failure == "" && len(b.probes) == 0 && k.shareable()
	if ok {
		s.lastKey = key
	} else {
		s.lastKey = coalesceKey{}
	}
	if lead := k.lead; lead != nil {
		k.lead = nil
		if ok && lead.key == key && k.epoch >= lead.read.epoch {
			s.srv.coalesce.complete(s.database, key, lead.read, cat, k.epoch, k.readAt)
			return
		}
		s.srv.coalesce.complete(s.database, lead.key, lead.read, nil, 0, 0) // the waiters read their own
	}
	if ok {
		s.srv.coalesce.complete(s.database, key, nil, cat, k.epoch, k.readAt)
	}
}

// leadOwnRead makes the read queued behind the session's DDL, just
// published at publishedAt, the one the database's other sessions of the
// key of the session's last kept read wait on at that epoch: their
// requests may follow the epoch before that read is answered, and would
// each read. Its answer completes it when its key is still that one.
// Backend pump, at the DDL's ReadyForQuery, before its pop.
func (s *Session) leadOwnRead() {
	if s.lastKey.pol == nil || !s.srv.cfg.Limits.CatalogCoalesce {
		return
	}
	x := s.expects.second()
	if x == nil || x.kind != expCatalog || x.catalog == nil || !x.catalog.afterDDL || x.catalog.coal.lead != nil || x.catalog.coal.epoch+1 != s.publishedAt {
		return
	}
	if e, lead := s.srv.coalesce.join(s.database, s.lastKey, s.publishedAt); lead {
		x.catalog.coal.lead = &leadRead{key: s.lastKey, read: e}
	}
}

// second is the expectation after the oldest, or nil.
func (e *expectQueue) second() *expectation {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first+1 >= len(e.q) {
		return nil
	}
	return e.q[e.first+1]
}
