package guard

import (
	"bufio"
	"crypto/tls"
	"sync/atomic"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgwire"
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
	// The connection's two directions, as the wire's pumps read and write
	// them: the client pump owns cr and bw, the backend pump br and cw.
	cr, br *pgwire.MsgReader
	cw, bw *bufio.Writer
	// backendDone is closed when the backend pump ends.
	backendDone <-chan struct{}
	// wire is what the guard asks of the pumps (flushes, the requests in
	// flight, waking the client pump).
	wire Wire

	// shredNotes are the (subject key, column) pairs whose shredded cells
	// this session has already audited.
	shredNotes map[string]bool

	// tracking is on with a policy or an auditor: the pumps then follow
	// each request to its answer (expect.go).
	tracking   bool
	audit      atomic.Pointer[audit.Session] // replaced when a reload re-binds the role
	statements int64
	lastRead   readMemo // see readColumns

	acc accessState // roles and access rules (access.go)

	// Encryption state (nil/empty without a Protection): where the
	// protected columns are, how to decrypt the current result set, and the
	// refusals whose marker errors the backend has yet to return.
	catalog       atomic.Pointer[catalog] // swapped by the backend pump after DDL
	refusals      refusalQueue
	expects       expectQueue
	clientStmts   map[string]*stmtInfo   // statements as the client pump planned them
	stmts         map[string]*stmtInfo   // statements the backend accepted (backend pump)
	portals       map[string]*portalInfo // portals the backend bound (backend pump)
	result        []*resultField         // the current simple-Query result set (backend pump)
	suppress      bool                   // drop the rest of a result phiguard failed mid-way
	abortOwed     bool                   // phiguard failed a result and the transaction is not yet aborted (backend pump, txabort.go)
	heldStatus    byte                   // the status of a ReadyForQuery held for the abort's; 0 when none (backend pump)
	midSegment    bool                   // extended-protocol messages went out since the last Sync (client pump, txabort.go)
	abortFlushed  bool                   // a Flush followed the last client message (client pump, txabort.go)
	rowScratch    rowScratch             // reused by decryptDataRow (backend pump)
	described     describedMemo          // describeFields' recent answers (backend pump, described.go)
	clientPortals map[string]*stmtInfo   // portal → statement, as the client pump bound them
	rounds        sessionRounds          // statements in rounds (client pump, protect_rounds.go)
	// portalFilters are the constants of a bound portal's proxy-side
	// WHERE, read at its Bind (filter_args.go); client pump only.
	portalFilters map[string][]filterArgs
	// describedPortals are the portals described since their Bind in
	// this protocol segment (client pump, describe.go).
	describedPortals map[string]bool
	// datetimeSent counts the requests that may change DateStyle,
	// TimeZone or IntervalStyle sent so far, datetimeBefore its value
	// before the current message, datetimeInRequest whether the current
	// Query changes them before its last statement (client pump);
	// datetimeDone is the count whose answers the backend pump has seen
	// (datetime_pending.go).
	datetimeSent, datetimeBefore uint64
	datetimeInRequest            bool
	datetimeDone                 atomic.Uint64
	// unseenSent, unseenDone and unseenSettled: the same for requests
	// that may change settings unseen (settings_unseen.go); unseenSettled
	// wakes the client pump when unseenDone grows.
	unseenSent    uint64
	unseenDone    atomic.Uint64
	unseenSettled chan struct{}
	// segmentUnseen: the segment executed such a call (client pump).
	segmentUnseen   bool
	copyIn          *copyRewriter                    // a COPY FROM STDIN being rewritten (client pump)
	bindScratch     bindScratch                      // reused by protectBind (client pump, bind_rewrite.go)
	ddlSeen         bool                             // DDL went out: refresh the catalog after it (client pump)
	catalogStale    atomic.Bool                      // read the catalog before planning the next request (either pump, catalog_fresh.go)
	catalogInTx     bool                             // the catalog was read inside a transaction, which may yet roll its DDL back (backend pump, catalog_fresh.go)
	reloadUnread    bool                             // a reload changed the protected tables and the catalog was not read since (client pump, staleInSegment)
	catalogInFlight chan struct{}                    // closed when the catalog read queued behind DDL is stored (client pump, catalog_fresh.go)
	bindNames       nameTable                        // statement and portal names of Binds, interned (client pump, protect_client.go)
	atSegmentStart  bool                             // the client message being handled starts a protocol segment (client pump, catalog_fresh.go)
	segmentOpen     bool                             // extended-protocol messages went out since the last Sync (client pump)
	objsNeeded      bool                             // re-read the database objects after this request (client pump)
	unsettled       []*replacement                   // Parses reusing a name, not yet answered (client pump, reparse.go)
	cursors         cursorMap                        // SQL cursors and named portals, as the backend confirmed them (cursors.go)
	timeZone        atomic.Pointer[sessionZone]      // the backend's last reported TimeZone (datetime.go)
	dateStyle       atomic.Pointer[sessionDateStyle] // and DateStyle
	intervalStyle   atomic.Pointer[string]           // and IntervalStyle
	output          atomic.Pointer[outputSettings]   // extra_float_digits and bytea_output (output.go)
	outputSeen      bool                             // a request may change them: read them after it (client pump)
}
