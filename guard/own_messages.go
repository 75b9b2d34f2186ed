package guard

import (
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// phiguard's own reads on the client's backend connection (the catalog,
// the objects, the stamp, the output settings, a table's columns, the
// search_path followed) go as the extended protocol, one Parse, Bind and
// Execute per statement under a name of phiguard's, then one Sync; not as
// a simple Query. PostgreSQL drops the unnamed prepared statement (and
// the unnamed portal) at every simple Query, so a read at a segment start
// took the client's unnamed statement from under it: a client that
// Parsed it and Binds or Describes it in a later segment (legal: it lives
// until the next Parse of it or simple Query) met 26000 where PostgreSQL
// runs it (TestReview39ReadDropsUnnamed). The unnamed statement
// is not restored after the read instead: a re-Parse analyses the text
// anew (types left to PostgreSQL inferred again, a result fixed again,
// search_path of now), and may fail, in the client's transaction block
// too, where PostgreSQL keeps the statement as the client prepared it.
//
// The answer is the same to the readers (catalogBuilder.add and the
// like): rows, CommandComplete, ErrorResponse, one ReadyForQuery; they
// pass over ParseComplete, BindComplete and CloseComplete. The statements
// up to the Sync run in one implicit transaction as a simple Query's do
// (the catalog path set local by the first is put back by the last,
// catalog_path.go), an error skips the rest, and in the client's
// transaction block, or an aborted one (25P02 at the first Parse), they
// do what the Query did. The statement and portal are closed first (an
// earlier read that failed skipped its Closes; a Close of a name none has
// is no error) and after, so that after a read that ran to its end
// pg_prepared_statements and pg_cursors show none of them.

// ownReadName is the statement's and the portal's name: planPrefix,
// which a client's statement may not use (variantNameRefusal), "read_"
// and a random part no client text or function can know, so that no
// cursor a function opens (one phiguard does not see) has it: the read's
// Close of a fixed name closed a function's cursor of that name (34000
// where PostgreSQL FETCHes from it, TestReview40FunctionCursorOfItsName).
var ownReadName = randomName(ownReadPrefix) // protect_query.go

// ownReadPrefix starts ownReadName; reservedReadName is the name the
// reads had before it had a random part, still refused to clients.
const (
	ownReadPrefix    = planPrefix + "read_"
	reservedReadName = planPrefix + "read"
)

// ownPortalRefusal is the refusal of a client's Bind to, or DECLARE of,
// a portal named like ownReadName (which pg_prepared_statements shows
// after a read that failed part way) or reservedReadName, pe for any
// other name: the next read would close it (34000 where PostgreSQL
// FETCHes from it, TestOwnReadClosesCursorOfItsName). Client pump.
func ownPortalRefusal(portal string, pe *pgerr.Error) *pgerr.Error {
	if portal != reservedReadName && !strings.HasPrefix(portal, ownReadPrefix) {
		return pe
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"the portal and cursor name %q is phiguard's own (its reads of the catalog on the session's connection): name the portal or cursor otherwise", portal)
}

// ownMessages returns phiguard's own statements sql as the messages
// above. Should the scanner fail, the text goes as one Parse: PostgreSQL
// refuses one holding several statements (42601), and the read fails as a
// read that fails does (the catalog kept and read again later, or the
// session refused), never falling back to a simple Query.
func ownMessages(sql string) []byte {
	stmts := ownSplits.split(sql)
	out := closeOwn(make([]byte, 0, len(sql)+len(pinTimeout)+len(restoreTimeout)+64*(len(stmts)+2)))
	out = appendOwnStatement(out, pinTimeout)
	for _, q := range stmts {
		out = appendOwnStatement(out, q)
	}
	out = appendOwnStatement(out, restoreTimeout)
	return appendSync(out)
}

// appendSync appends a Sync message, which ends a segment of phiguard's.
func appendSync(out []byte) []byte { return append(out, pgwire.FeSync, 0, 0, 0, 4) }

// appendOwnStatement appends the Parse, Bind, Execute and Closes of one
// statement of phiguard's own.
func appendOwnStatement(out []byte, q string) []byte {
	out = append(out, parseMessage([]byte(ownReadName), []byte(q))...)
	out = appendOwn(out, &pgproto3.Bind{DestinationPortal: ownReadName, PreparedStatement: ownReadName})
	out = appendOwn(out, &pgproto3.Execute{Portal: ownReadName})
	return closeOwn(out)
}

// The client's statement_timeout is for the client's statements, and a
// read of phiguard's (17 ms for the catalog here) outlasted a client's
// 2 ms: the read failed part way, in the client's transaction block
// aborting it (TestReview40ReadFailsInBlock, TestReview40ReadTimesOut).
// So the read's first statement sets statement_timeout local to the
// transaction, saving the client's, and its last puts the client's back
// (as catalog_path.go does the search_path). PostgreSQL starts a fresh
// timer at each protocol message after an Execute, so the statements
// after the first run under the read's own timeout: the client's if none
// (0) or 10 s or more, else 10 s, so that a read stuck on a lock still
// ends. The first statement itself runs under the client's timeout; when
// that, or a cancel, fails a read, recoverOwnRead (own_recover.go) puts
// things back. Qualified throughout: they run under the client's
// search_path. Neither returns a row.
const (
	pinTimeout = `SELECT WHERE pg_catalog.set_config('statement_timeout',
  CASE WHEN pg_catalog.current_setting('statement_timeout') OPERATOR(pg_catalog.=) '0'
    OR pg_catalog.current_setting('statement_timeout')::pg_catalog.interval OPERATOR(pg_catalog.>=) '10 s'::pg_catalog.interval
  THEN pg_catalog.set_config('phiguard.client_statement_timeout', pg_catalog.current_setting('statement_timeout'), true)
  ELSE pg_catalog.concat(pg_catalog.left(pg_catalog.set_config('phiguard.client_statement_timeout', pg_catalog.current_setting('statement_timeout'), true), 0), '10s') END,
  true) IS NULL`
	restoreTimeout = `SELECT WHERE pg_catalog.set_config('statement_timeout', pg_catalog.current_setting('phiguard.client_statement_timeout'), true) IS NULL`
)

// closeOwn appends the Closes of ownReadName's portal and statement.
func closeOwn(out []byte) []byte {
	out = append(out, pgwire.Frame(pgwire.FeClose, append([]byte{'P'}, ownReadName+"\x00"...))...)
	return append(out, closeStatement(ownReadName)...)
}

// appendOwn appends m, whose encoding of phiguard's own fixed names
// cannot fail.
func appendOwn(out []byte, m pgproto3.FrontendMessage) []byte {
	out, err := m.Encode(out)
	if err != nil {
		panic("BUG: phiguard's own read does not encode: " + err.Error())
	}
	return out
}

// ownSplits keeps the statements of the last texts split: scanning the
// catalog read's 15 kB costs some 0.2 ms, and its text is the same at
// each read of a session, and of the sessions under one policy, unless
// it carries names to look up.
var ownSplits = splitCache{texts: map[string][]string{}}

// ownSplitsKept bounds splitCache: emptied when full.
const ownSplitsKept = 32

type splitCache struct {
	mu    sync.Mutex
	texts map[string][]string
}

// split returns sql's statements, sql itself when the scanner fails.
func (c *splitCache) split(sql string) []string {
	c.mu.Lock()
	stmts, ok := c.texts[sql]
	c.mu.Unlock()
	if ok {
		return stmts
	}
	stmts, err := sqlrewrite.SplitStatements(sql)
	if err != nil || len(stmts) == 0 {
		stmts = []string{sql}
	}
	c.mu.Lock()
	if len(c.texts) >= ownSplitsKept {
		clear(c.texts)
	}
	c.texts[sql] = stmts
	c.mu.Unlock()
	return stmts
}
