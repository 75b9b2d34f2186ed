package guard

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"go.uber.org/zap"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/policy"
)

// The column guard (sqlrewrite.GuardColumnOrder) makes a statement whose
// column list phiguard filled fail when another session's DDL changed the
// table's columns; nothing is written. But the statement's text already
// went to the server, and a value that the stale list sent towards the
// wrong column is in it in clear: PostgreSQL logs the text of a failed
// statement (log_min_error_statement), and may quote the value in its
// error when the wrong column has another type. So before it fills a
// list, where it can wait for an answer (a Query, or a Parse that starts a
// protocol segment), the client pump asks the backend for the table's
// columns — one index lookup in pg_attribute, one round trip — and on a
// difference reads the whole catalog and fills from it. The guard stays:
// DDL can still land between this check and the statement, only no
// longer at any time since the session last read its catalog.

// The check also compares which columns the session's role may not
// INSERT, which decides whether the guards append an encrypted column
// (sqlrewrite/guard_slot.go): a GRANT or REVOKE since the catalog was
// read is then seen before the statement, not after a 42501.

// columnsQuery lists a table's columns as the catalog keeps them:
// "attnum:name" joined by commas, in attribute order, with ":-" after a
// column the role may not insert. It runs under the client's search
// path, so its operators are named with their schema: a client that put
// a schema of its own before pg_catalog could have answered for them
// (review 40; the catalog read pins its path, catalog_path.go).
func columnsQuery(oid uint32) []byte {
	return ownMessages(`SELECT pg_catalog.string_agg(a.attnum::pg_catalog.text OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) a.attname::pg_catalog.text OPERATOR(pg_catalog.||)
  CASE WHEN pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'INSERT') THEN '' ELSE ':-' END, ',' ORDER BY a.attnum)
FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) ` + strconv.FormatUint(uint64(oid), 10) + `::pg_catalog.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped`)
}

// columnsText is what columnsQuery answers for a table the catalog is
// current about.
func (c *catalog) columnsText(t policy.TableName) string {
	var b strings.Builder
	for i, cc := range c.tables[t] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(cc.attnum)) + ":" + cc.name)
		if cc.noInsert {
			b.WriteString(":-")
		}
	}
	return b.String()
}

// checkColumnsBeforeFill returns the catalog to fill a column list for
// table from: cat when the backend agrees with it about the table's
// columns (or the pump cannot wait here), else one read just now. Client
// pump.
func (s *Session) checkColumnsBeforeFill(cat *catalog, table policy.TableName) *catalog {
	oid := cat.oids[table]
	if !s.atSegmentStart || oid == 0 {
		return cat
	}
	x := &expectation{kind: expColumns, done: make(chan struct{})}
	if !s.ownRequest(x, columnsQuery(oid)) {
		return cat
	}
	if x.columnsFailed || x.columns == cat.columnsText(table) {
		// Agreed; or the check failed: in a failed transaction, where
		// the statement fails too, or on a timeout or cancel outside a
		// block or rolled back to its savepoint in one (own_recover.go),
		// where the statement runs: the guard still holds.
		return cat
	}
	s.log.Info("a table's columns or the role's INSERT privileges on them changed since the catalog was read: reading it before filling a column list")
	s.catalogStale.Store(true)
	s.readCatalogNow()
	return s.catalog.Load()
}

// ownRequest sends one of phiguard's own queries at a segment start and
// waits, bounded, for the backend pump to take its answer (x.done).
// Client pump.
func (s *Session) ownRequest(x *expectation, msg []byte) bool {
	s.typesBeforeOwnQuery() // reprepare_unnamed.go: before the read that precedes the unnamed statement's re-prepare
	savepointed := s.ownReadInBlock()
	if savepointed {
		msg = inSavepoint(msg) // own_recover.go
	}
	switch s.sendOwn(x, msg) {
	case answered:
		s.recoverOwnRead(x, savepointed)
		return true
	case timedOut:
		s.log.Warn("phiguard's own query before a request not answered in time", zap.Duration("waited", freshCatalogWait))
	}
	return false
}

// sendOwn queues x, sends msg, phiguard's own segment, and waits, bounded,
// for the backend pump to take its answer (x.done); backendEnded when
// the message could not be sent. Client pump.
func (s *Session) sendOwn(x *expectation, msg []byte) waited {
	s.expects.push(x)
	if _, err := s.bw.Write(msg); err != nil {
		return backendEnded
	}
	if err := s.flushBackend(); err != nil {
		return backendEnded
	}
	return s.awaitBackend(x.done)
}

// waited is how awaitBackend's wait ended.
type waited int

const (
	answered waited = iota
	backendEnded
	timedOut
)

// awaitBackend waits for done (closed by the backend pump when the answer
// phiguard waits for is in), at most freshCatalogWait, and not past the
// backend pump's end. Client pump.
func (s *Session) awaitBackend(done <-chan struct{}) waited {
	timer := time.NewTimer(freshCatalogWait)
	defer timer.Stop()
	select {
	case <-done:
		return answered
	case <-s.backendDone:
		return backendEnded
	case <-timer.C:
		return timedOut
	}
}

// columnsAnswer takes the answer to columnsQuery (backend pump).
func (s *Session) columnsAnswer(head *expectation, typ byte) error {
	body, err := s.br.Body()
	if err != nil {
		return err
	}
	switch typ {
	case pgwire.BeDataRow:
		var row pgproto3.DataRow
		if err := row.Decode(body); err != nil || len(row.Values) != 1 {
			return pgwire.Violation("malformed column list from backend")
		}
		head.columns = string(row.Values[0])
	case pgwire.BeErrorResponse:
		head.columnsFailed = true
	case pgwire.BeReadyForQuery:
		s.expects.pop()
		close(head.done)
	}
	return nil
}

// privilegesMayBeStale: a 42501 answering a statement phiguard guarded
// (a filled column list, or encrypted columns left to their defaults) may
// come from a column it appended that the role may no longer insert
// (another session's REVOKE since the catalog was read; the check above
// runs before a filled list only): read the catalog again before the
// next request, and prepare a named statement again at its next Bind.
// Backend pump.
func (s *Session) privilegesMayBeStale(head *expectation, body []byte) {
	if code, _ := pgwire.ErrorField(body, 'C'); string(code) != string(pgerr.InsufficientPrivilege) {
		return
	}
	st := head.prep
	switch head.kind {
	case expBind:
		st = s.stmts[head.stmt]
	case expExecute:
		if p := s.portals[head.name]; p != nil {
			st = p.stmt
		}
	}
	if head.filled || head.guarded || st != nil && st.again != nil {
		s.catalogStale.Store(true)
		s.markGuardFailed(head)
	}
}
