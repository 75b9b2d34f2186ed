package guard

import (
	"bufio"
	"crypto/tls"
	"sync/atomic"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// Session is the guard's side of one client session: what it follows of
// the session's statements, portals, settings and results, and the
// connection's messages it reads and writes while a pump runs it
// (Connect). The wire (package proxy) makes one per session at login
// (NewSession) and calls ClientMessage and BackendMessage from its two
// pumps.
type Session struct {
	srv            *Shared
	id             string
	log            *zap.Logger
	user, database string
	// clientAddr and tlsState describe the client leg, for the audit
	// records and a certificate's subject (tlsState nil when plaintext).
	clientAddr string
	tlsState   *tls.ConnectionState
	// wire is what the guard asks of the pumps (flushes, the requests in
	// flight, waking the client pump).
	wire Wire
	// backendDone is closed when the backend pump ends.
	backendDone <-chan struct{}

	// Set before the pumps start, read-only while they run.

	// tracking is on with a policy or an auditor: the pumps then follow
	// each request to its answer (expect.go).
	tracking bool

	// Shared by the two pumps, each field synchronized by its own type
	// (atomics, or a mutex inside): the requests sent and the answers owed
	// (expects), the refusals whose marker errors the backend has yet to
	// return, where the protected columns are (catalog: read by the client
	// pump to plan, swapped by the backend pump after DDL), the role and
	// access rules, and the settings the backend reported.
	audit    atomic.Pointer[audit.Session] // replaced when a reload re-binds the role
	acc      accessState                   // roles and access rules (access.go)
	catalog  atomic.Pointer[catalog]
	refusals refusalQueue
	expects  expectQueue
	cursors  cursorMap // SQL cursors and named portals, as the backend confirmed them (cursors.go)
	// readyStatus is the status of the last ReadyForQuery of the
	// client's requests (backend pump; reprepare_unnamed.go).
	readyStatus atomic.Uint32
	// preface is what the next injected Parse's error is to follow
	// (client pump; reprepare_unnamed.go, describeUnprepared).
	preface      []byte
	catalogStale staleFlag // read the catalog before planning the next request (catalog_fresh.go, catalog_coalesce.go)
	// readFailedUsable: the last catalog read failed and left the
	// transaction usable: outside a block (backend pump), or in one rolled
	// back to the read's savepoint (client pump, own_recover.go); read by
	// unreadCopyRefusal (catalog_fresh.go).
	readFailedUsable atomic.Bool
	// ddlEpoch is the database's DDL epoch, shared by its sessions, and
	// catalogEpoch its value the last whole catalog read is current with
	// (catalog_epoch.go); written by both pumps.
	ddlEpoch     *atomic.Uint64
	catalogEpoch atomic.Uint64
	// catalogReadAt is when that read was sent, in Unix nanoseconds
	// (followCatalogAge).
	catalogReadAt atomic.Int64
	probeNames    []sqlrewrite.TableName // names the catalog lacks, asked about at its next read (catalog_latest.go); client pump
	// sqlPrepared are the statements of each SQL PREPARE, by name, and
	// preparedDrops the DEALLOCATEs of the request being planned, for
	// noteCursors (sql_prepared.go).
	sqlPrepared   preparedMap
	preparedDrops []cursorChange
	// pathStale: the search path may have changed since the catalog
	// read; pathTouched: a statement that may change it ran since the
	// transaction began (catalog_path_follow.go); pathDeferred: a
	// PREPARE or DECLARE of a query that may change it ran, so an EXECUTE,
	// FETCH or MOVE may; client pump.
	pathStale, pathTouched, pathDeferred bool
	// pathRecheck: the request whose names are checked again after the
	// path alone is read before it (readPathFirst); client pump.
	pathRecheck *sqlrewrite.Analysis
	// pathNames: names a Parse or Bind inside a pipeline was refused
	// for, not checked by the read of the path alone before it: each
	// such read checks them too (pathInSegment); client pump.
	pathNames []string
	// pathBindCheck: the catalog was read before a Bind for the path
	// (bindReprepares), for bindRefusal to check its statement; client
	// pump.
	pathBindCheck bool
	// pathChanges counts the statements that may have changed the search
	// path (notePathChange); a named statement keeps the count of its
	// Parse (pathChangedSince); client pump.
	pathChanges uint64
	// firstInSegment: the message being handled is its segment's first
	// (catalog_fresh.go); client pump.
	firstInSegment bool
	// unknownReads: a read inside a pipeline refused for naming a
	// relation the catalog lacked, by name, with the catalog then
	// (unknownWriteInSegment); client pump.
	unknownReads map[string]*catalog
	// settingReports counts the backend's ParameterStatus messages, and
	// backendErrors its ErrorResponses (backend pump; plan_reuse_settings.go).
	settingReports, backendErrors atomic.Uint64
	timeZone                      atomic.Pointer[sessionZone]      // the backend's last reported TimeZone (datetime.go)
	dateStyle                     atomic.Pointer[sessionDateStyle] // and DateStyle
	intervalStyle                 atomic.Pointer[string]           // and IntervalStyle
	output                        atomic.Pointer[outputSettings]   // extra_float_digits and bytea_output (output.go)
	// datetimeDone and unseenDone count the requests that may change
	// DateStyle, TimeZone or IntervalStyle, and settings phiguard does not
	// see, whose answers the backend pump has seen (datetime_pending.go,
	// settings_unseen.go); unseenSettled wakes the client pump when
	// unseenDone grows.
	datetimeDone  atomic.Uint64
	unseenDone    atomic.Uint64
	unseenSettled chan struct{}

	clientOwned  // only the client pump's (and the login's, before it)
	backendOwned // only the backend pump's (and the session's end, after it)
}

// clientOwned is the state only the client pump touches: what it reads
// from the client, what it writes to the backend, and the plans it makes
// of the client's statements and portals before they reach the backend.
type clientOwned struct {
	cr *pgwire.MsgReader // from the client
	bw *bufio.Writer     // to the backend

	clientStmts   map[string]*stmtInfo // statements as the client pump planned them
	clientPortals map[string]*stmtInfo // portal → statement, as the client pump bound them
	// portalFilters are the constants of a bound portal's proxy-side
	// WHERE, read at its Bind (filter_args.go).
	portalFilters map[string][]filterArgs
	// describedPortals are the portals described since their Bind in
	// this protocol segment (describe.go).
	describedPortals map[string]bool
	rounds           sessionRounds // statements in rounds (protect_rounds.go)
	midSegment       bool          // extended-protocol messages went out since the last Sync (txabort.go)
	abortFlushed     bool          // a Flush followed the last client message (txabort.go)
	// datetimeSent counts the requests that may change DateStyle,
	// TimeZone or IntervalStyle sent so far, datetimeBefore its value
	// before the current message, datetimeInRequest whether the current
	// Query changes them before its last statement (datetime_pending.go);
	// unseenSent the same for settings phiguard does not see, and
	// segmentUnseen whether the segment executed such a call
	// (settings_unseen.go).
	datetimeSent, datetimeBefore uint64
	datetimeInRequest            bool
	unseenSent                   uint64
	segmentUnseen                bool
	copyIn                       *copyRewriter     // a COPY FROM STDIN being rewritten
	bindScratch                  bindScratch       // reused by protectBind (bind_rewrite.go)
	ddlSeen                      bool              // DDL went out: refresh the catalog after it
	ddlOwn                       bool              // the client's DDL went out (not a reload's): publish it after (catalog_epoch.go)
	reloadUnread                 bool              // a reload changed the protected tables and the catalog was not read since (staleInSegment)
	catalogInFlight              *queuedRead       // the catalog read queued behind DDL, until the next request waits for it (catalog_fresh.go)
	ddlRead                      bool              // that read will run in the client's block: it gets a savepoint (own_recover.go)
	bindNames                    nameTable         // statement and portal names of Binds, interned (protect_client.go)
	atSegmentStart               bool              // the client message being handled starts a protocol segment (catalog_fresh.go)
	segmentOpen                  bool              // extended-protocol messages went out since the last Sync
	freshCopy                    bool              // freshBeforeCopy wants the catalog read before the request being handled
	objsNeeded                   bool              // re-read the database objects after this request
	unsettled                    []*replacement    // Parses reusing a name, not yet answered (reparse.go)
	outputSeen                   bool              // a request may change extra_float_digits or bytea_output: read them after it
	plans                        planCache         // plans reused for the unnamed statement (plan_reuse.go)
	planSettings                 planSettingsCount // what may change the settings texts are analysed under (plan_reuse_settings.go)
	// adoptMark is catalogStale's mark when another session's DDL alone
	// made the catalog stale, coalesceLead the kept read the session's
	// next whole read completes (catalog_coalesce.go).
	adoptMark    uint64
	coalesceLead *leadRead
}

// backendOwned is the state only the backend pump touches: what it reads
// from the backend, what it writes to the client, what the backend
// confirmed, the result being decrypted, and the audit's counts.
type backendOwned struct {
	br *pgwire.MsgReader // from the backend
	cw *bufio.Writer     // to the client

	stmts       map[string]*stmtInfo   // statements the backend accepted
	portals     map[string]*portalInfo // portals the backend bound
	result      []*resultField         // the current simple-Query result set
	suppress    bool                   // drop the rest of a result phiguard failed mid-way
	abortOwed   bool                   // phiguard failed a result and the transaction is not yet aborted (txabort.go)
	heldStatus  byte                   // the status of a ReadyForQuery held for the abort's; 0 when none
	rowScratch  rowScratch             // reused by decryptDataRow
	sortSpare   sortSpare              // a finished proxy-side sort's buffers, for the next (sort_spare.go)
	described   describedMemo          // describeFields' recent answers (described.go)
	catalogInTx bool                   // the catalog was read inside a transaction, which may yet roll its DDL back (catalog_fresh.go)
	// ddlUnpublished: the session's DDL ran inside a transaction block,
	// published to the database's other sessions when it ends
	// (catalog_epoch.go).
	ddlUnpublished bool
	// publishedAt is the epoch the session's last DDL published, for the
	// catalog read behind it (ownReadCurrent).
	publishedAt uint64
	// lastKey is the key of the session's last whole read kept for
	// other sessions (and the login's), zero when it was not
	// (catalog_coalesce.go).
	lastKey    coalesceKey
	statements int64    // statements recorded, for the session's closing record
	lastRead   readMemo // see readColumns
	// shredNotes are the (subject key, column) pairs whose shredded cells
	// this session has already audited.
	shredNotes map[string]bool
}
