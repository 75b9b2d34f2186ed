package guard

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// With a policy loaded, the backend pump must know which request each
// response answers: whose RowDescription this is, which portal's rows
// these are. The client pump pushes one expectation per message that the
// backend answers, in the order it forwards them; the backend pump pops
// them as the answers arrive. PostgreSQL answers in order, and after an
// error it skips to the next Sync, so the queue does the same.
//
// Everything the backend pump learns (statement and portal descriptions)
// it keeps in its own maps, updated only on success responses, so those
// maps need no lock; only the queue is shared.

type expectKind uint8

const (
	expParse          expectKind = iota + 1 // ParseComplete
	expBind                                 // BindComplete
	expDescribeStmt                         // ParameterDescription, then RowDescription or NoData
	expDescribePortal                       // RowDescription or NoData
	expExecute                              // rows, then CommandComplete / EmptyQuery / PortalSuspended
	expClose                                // CloseComplete
	expSync                                 // ReadyForQuery
	expQuery                                // everything up to ReadyForQuery (simple Query, FunctionCall)
	expCatalog                              // phiguard's own catalog query after DDL: swallowed
	expObjects                              // phiguard's own read of the database objects: swallowed
	expOutput                               // phiguard's own read of extra_float_digits and bytea_output: swallowed
	expColumns                              // phiguard's own read of a table's columns before filling a list: swallowed
	expAbort                                // phiguard's own failing statement after a result it failed (txabort.go): swallowed
	expTypes                                // phiguard's own Describe of the unnamed statement and Sync before its own Query (reprepare_unnamed.go): swallowed
	expRecover                              // phiguard's own segment after a read of its own failed (own_recover.go): swallowed
)

type expectation struct {
	kind expectKind
	// For the audit record of a statement (expQuery, expExecute): what it
	// is, when it started, which of a Query's statements is next, and the
	// protected columns it reads and writes.
	analysis *sqlrewrite.Analysis
	start    time.Time
	index    int
	read     []string
	written  []string
	copy     bool
	subjects map[*policy.ProtectedTable]*audit.SubjectSet
	dataRows int64    // DataRows of the current statement
	tables   []string // for a FETCH: its cursor's tables, for the record
	// cursorChanges are the request's DECLAREs and CLOSEs, applied as
	// their statements complete; completed counts a Query's statements
	// that did (cursors.go).
	cursorChanges []cursorChange
	completed     int
	fastpath      bool // a FunctionCall (expQuery): recorded as protocol function_call
	interrupted   bool // cut off by the session's end before the backend answered
	// injected: a request phiguard sent itself (a Describe of a portal,
	// describe.go, or of a statement, reprepare_types.go; the Close and
	// Parse of a re-prepare, reprepare.go); its answer is kept, not
	// forwarded, and an error answering phiguard's Describe of a
	// statement is the Bind's behind it.
	injected bool
	// publishesDDL: a Query or Sync ending a request that ran the
	// client's DDL, whose ReadyForQuery publishes it to the database's
	// other sessions (catalog_epoch.go).
	publishesDDL bool
	// trial: a re-prepare's Parse under trialName (reprepare.go), whose
	// success settles nothing; prep is the statement the Parse behind it
	// prepares, for what an error tells of it.
	trial bool
	// variant is the LIKE variant an injected Parse prepares
	// (protect_search_variants.go): its answer says whether it exists.
	variant *likeVariant
	// plan is the reused plan a Bind or Execute runs through
	// (plan_reuse.go): an error marks it stale.
	plan *planEntry
	// names are the checks of name binding a Query's plan sent
	// (catalog_qualified.go).
	names nameChecks
	// sort holds the rows of a statement phiguard sorts itself
	// (protect_sort.go); nil for any other.
	sort *sortRun
	// rounds is the client pump's wait on a statement in rounds,
	// finished when the expectation leaves the queue (protect_rounds.go).
	rounds *roundWait
	// portion is an Execute's row limit, 0 for none, when phiguard
	// answers it from rows it holds (portions.go).
	portion uint32
	// slots is the audit queue room reserved for this request's records
	// when it touches PHI (audit.go); what is left is released when the
	// expectation leaves the queue.
	slots audit.Reservation

	name    string  // statement or portal name
	stmt    string  // for expBind: the statement bound
	formats []int16 // for expBind: result format codes
	closeS  bool    // for expClose: a statement (else a portal)
	// answer, for an injected Close standing in for the client's
	// Describe, is what the client gets for it; for an injected re-Parse
	// in place of one, what the client gets before its error, unless the
	// error is 25P02 (reprepare_unnamed.go).
	answer []byte
	// paramsSent: phiguard gave the client the ParameterDescription of
	// this Describe of a statement already (reprepare_unnamed.go).
	paramsSent bool
	prep       *stmtInfo       // for expParse: what the client pump planned
	copyOut    *copyRewriter   // for expQuery/expExecute of a COPY TO STDOUT to decrypt
	catalog    *catalogBuilder // for expCatalog
	// done, for an expCatalog the client pump waits for, is closed once
	// the answer is in (catalog_fresh.go).
	done chan struct{}
	// ownFailed and ownStatus: a read of phiguard's own met an error, and
	// the status of its ReadyForQuery (own_recover.go).
	ownFailed bool
	ownCode   string // the SQLSTATE of its first error
	ownStatus byte
	// columns and columnsFailed are the answer to an expColumns
	// (column_check.go).
	columns       string
	columnsFailed bool
	// orderPositions are a simple Query's ORDER BY positions to check
	// against its result's description (sqlrewrite.Plan.OrderPositions).
	orderPositions []int
	// filled: a Query, Bind or Execute of a statement whose column list
	// was filled from the catalog (fillColumnList): any error it meets
	// may mean the catalog is stale (onBackendError).
	filled bool
	// guarded: a Query phiguard gave a default guard (guardDefaults),
	// whose 42501 may mean stale column privileges (column_check.go).
	guarded bool
	objects *ObjectsBuilder // for expObjects
	output  *outputBuilder  // for expOutput

	// Access control: the verdict for the audit record, and a permitted
	// break-glass request, granted when the backend confirms its SET.
	decision audit.Decision
	rule     string
	glass    *sqlrewrite.BreakGlass

	// failed is the SQLSTATE of the error phiguard put in place of the
	// current statement's result (failResult), for its audit record.
	failed pgerr.Code
	// reusable: it came from expectQueue.fresh and goes back when popped.
	reusable bool
	// datetimeEpoch is the count of requests that may change the
	// datetime settings the client pump had sent when it pushed this
	// (datetime_pending.go).
	datetimeEpoch uint64
	// unseenEpoch: the same for requests that may change settings
	// unseen (settings_unseen.go).
	unseenEpoch uint64
}

// expectQueue is the queue of expectations, shared by the two pumps. It
// keeps its array and the expectations it hands out for reuse: a prepared
// statement makes four of them (Bind, Describe, Execute, Sync), and at
// thousands of statements a second, allocating them afresh was about half
// of a protected session's garbage (bench/phi's allocation profile).
type expectQueue struct {
	mu    sync.Mutex
	q     []*expectation // q[first:] are waiting, oldest first
	first int
	// spare are popped expectations the client pump may have again
	// (fresh); only those fresh gave out come back.
	spare []*expectation
	// abortDue: the client pump is to send abortQuery once the backend
	// has no request of the client's unanswered (txabort.go).
	abortDue bool
	// datetimeEpoch stamps each expectation pushed (datetime_pending.go),
	// and unseenEpoch (settings_unseen.go).
	datetimeEpoch, unseenEpoch uint64
	// skipping: an error made the backend skip the rest of the client's
	// current extended-protocol segment, whose Sync is not queued yet
	// (skipToSync found none). What the client sends before that Sync,
	// a simple Query too, gets no answer: push lets it go at once, as skipToSync would have
	// had it been queued. Else a statement in rounds waited forever for
	// an answer (protect_rounds.go's awaitRounds holds the client's Sync
	// back), and a later answer went to the request left at the head.
	skipping bool
}

// maxSpareExpectations bounds what a session keeps for reuse; a pipeline
// longer than that allocates the rest.
const maxSpareExpectations = 16

// maxKeptQueue is the longest array a drained queue keeps; one a long
// pipeline grew is let go.
const maxKeptQueue = 64

// fresh returns a zeroed expectation of this kind that pop may reuse
// once the backend has answered it. The client pump must not touch it
// after pushing it, and the backend pump must not keep it after popping
// it; an expectation anyone waits on or holds longer (a catalog read's)
// is allocated with new instead.
func (e *expectQueue) fresh(kind expectKind) *expectation {
	e.mu.Lock()
	var x *expectation
	if n := len(e.spare); n > 0 {
		x, e.spare[n-1] = e.spare[n-1], nil
		e.spare = e.spare[:n-1]
	}
	e.mu.Unlock()
	if x == nil {
		x = new(expectation)
	}
	x.kind, x.reusable = kind, true
	return x
}

func (e *expectQueue) push(x *expectation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.skipping {
		switch x.kind {
		case expParse, expBind, expDescribeStmt, expDescribePortal, expExecute, expClose, expQuery:
			x.abandon() // skipped by the backend: no answer comes
			return
		case expSync:
			e.skipping = false
		}
	}
	x.datetimeEpoch, x.unseenEpoch = e.datetimeEpoch, e.unseenEpoch
	e.q = append(e.q, x)
}

// none is what head returns when nothing is expected; it is never changed.
var none = &expectation{}

// head returns the oldest expectation, or none. Only the backend pump
// changes the expectation it returns.
func (e *expectQueue) head() *expectation {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == len(e.q) {
		return none
	}
	return e.q[e.first]
}

func (e *expectQueue) pop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == len(e.q) {
		return
	}
	x := e.q[e.first]
	x.slots.Release()
	x.rounds.finish() // protect_rounds.go
	e.dropFirst()
	if x.reusable && len(e.spare) < maxSpareExpectations {
		*x = expectation{}
		e.spare = append(e.spare, x)
	}
}

// dropFirst removes the oldest expectation; once the queue is drained its
// array starts over, or is let go if a long pipeline grew it.
func (e *expectQueue) dropFirst() {
	e.q[e.first] = nil
	e.first++
	if e.first < len(e.q) {
		return
	}
	e.first = 0
	if cap(e.q) > maxKeptQueue {
		e.q = nil
	} else {
		e.q = e.q[:0]
	}
}

// skipToSync drops what an error made the backend skip: everything up to,
// not including, the next Sync. A simple Query or FunctionCall in the
// segment is skipped too: only a Sync ends PostgreSQL's skipping
// (ignore_till_sync; red team 15 saw a Query in rounds there hang).
func (e *expectQueue) skipToSync() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.first < len(e.q) && e.q[e.first].kind != expSync {
		e.q[e.first].abandon()
		e.dropFirst()
	}
	e.skipping = e.first == len(e.q)
}

// abandon lets go of a request the backend skipped or never answered: its
// reserved audit room, and a Parse it did not carry out. A re-prepare's
// trial Parse leaves its statement to the Parse behind it, abandoned
// with it: once settled, the client pump may let go of the statement's
// replacing, which that Parse's abandon reads.
func (x *expectation) abandon() {
	x.slots.Release()
	x.rounds.finish() // protect_rounds.go
	if (x.kind == expParse && !x.trial || x.kind == expClose) && x.prep != nil && x.prep.replacing != nil {
		x.prep.replacing.settle(true)
	}
	x.settleVariant(true) // a LIKE variant's Parse (protect_search_variants.go)
}

// moveLast moves x, queued but not yet sent, behind what was queued after
// it (injected requests sent before it); gone (abandoned), it stays gone.
func (e *expectQueue) moveLast(x *expectation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.q) - 1; i >= e.first; i-- {
		if e.q[i] == x {
			copy(e.q[i:], e.q[i+1:])
			e.q[len(e.q)-1] = x
			return
		}
	}
}

// insertBefore queues xs, not yet sent, just ahead of x, queued and not
// yet sent either (a re-prepare's trial Parse, reprepare.go). If x is
// gone, the backend skips the segment: xs are abandoned.
func (e *expectQueue) insertBefore(x *expectation, xs ...*expectation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.q) - 1; i >= e.first; i-- {
		if e.q[i] == x {
			for _, y := range xs {
				y.datetimeEpoch, y.unseenEpoch = x.datetimeEpoch, x.unseenEpoch
			}
			e.q = slices.Insert(e.q, i, xs...)
			return
		}
	}
	for _, y := range xs {
		y.abandon()
	}
}

// takeAll empties the queue and returns what was in it, for the records
// of requests a session ended before they were answered.
func (e *expectQueue) takeAll() []*expectation {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.q[e.first:]
	e.q, e.first = nil, 0
	return q
}

// stmtInfo is a prepared statement as phiguard planned it: which
// parameters it must encrypt, and what the client declared them as.
type stmtInfo struct {
	analysis *sqlrewrite.Analysis
	// pathChanges is the session's count of search path changes at its
	// Parse, or at its last Bind checked after one (pathChangedSince).
	pathChanges uint64
	filled      bool // its column list was filled from the catalog (expectation.filled)
	plan        *sqlrewrite.Plan
	params      map[int]*policy.ProtectedColumn // $n → column, for parameters to encrypt
	subjects    map[int]subjectSource           // $n → its row's subject, for per-subject columns
	// declared is, for a protected parameter the client gave a type in
	// Parse, that type's OID: ParameterDescription reports it, and Bind
	// reads a binary value as that type (declared.go).
	declared map[int]uint32
	// compareOnly is set for a parameter only ever compared with its
	// column, never written into it (compare_length.go).
	compareOnly map[int]bool
	// explicit is set for a parameter only ever written through an
	// explicit cast to its column's type (sqlrewrite.ValueSlot.Explicit).
	explicit map[int]bool
	// hidden are the parameters phiguard added after the client's
	// clientParams ones, for equality search during a re-encryption
	// (protect_compare_param.go); nil for almost every statement.
	hidden       []hiddenParam
	clientParams int
	// termParams are the parameters phiguard added after those for the
	// term conjuncts of its proxy-side WHERE (protect_search.go).
	termParams []termParam
	// like is its LIKE conjuncts' variants, when a pattern is a
	// parameter (protect_search_variants.go); nil for almost every one.
	like *likeVariants
	// virt: the client's unnamed statement lives under a name of
	// phiguard's (plan_reuse.go); client pump only.
	virt *virtualPlan
	// filterLits are the constants of its proxy-side WHERE read from its
	// text at Parse; filterParams the types of the parameters its Binds
	// give them, which the backend gets as NULL (filter_args.go).
	filterLits   []filterArgs
	filterParams map[int]uint32
	// keysGen is the generation of the keys (knownKeys.gen) its Parse
	// sealed literals and counted equality candidates under; 0 when it
	// did neither (protect.go, recheckKeys).
	keysGen   uint64
	written   []string       // protected columns it writes, for audit records
	fields    []*resultField // from Describe; nil until described or when none is protected
	described bool
	// clientDescribed: the client described the statement (client pump;
	// the backend pump's described says the answer arrived).
	clientDescribed bool

	// Access control: the policy it was planned under (a Bind under a newer
	// one re-checks it, see access_bind.go), the client's text, and the
	// verdict.
	pol       *policy.Policy
	sql       string
	sent      string // the text after access rewriting, before encryption
	decisions string // decisionsKey of its Access
	// replacing is set while a Parse that reused a known name, or a Close,
	// is unanswered; closed marks the tombstone a Close leaves (reparse.go).
	replacing *replacement
	closed    bool
	// again is the client's Parse, kept for a statement whose text holds
	// a column or default guard; guardFailed is set (backend pump) when
	// that guard failed, and the next Bind prepares it again
	// (reprepare.go).
	again       *reprepared
	guardFailed atomic.Bool
	// unprepared is set (backend pump) when the Close of phiguard's
	// re-prepare ran: if the re-Parse behind it failed, the backend holds
	// no statement of the name while the client still does, and the
	// next Bind prepares it again whatever went before (reprepare.go).
	unprepared atomic.Bool
	// dropped: the unnamed statement PostgreSQL dropped at a simple Query
	// or a failed Parse of the unnamed statement (client pump), which
	// phiguard neither describes (reprepare_unnamed.go) nor prepares
	// again (reprepare.go): PostgreSQL answers its Bind 26000.
	dropped bool
	// deallocated is set (backend pump) when an SQL DEALLOCATE of its
	// name, DEALLOCATE ALL or DISCARD ALL ran: PostgreSQL answers a Bind
	// of the name 26000, and phiguard does not prepare it again.
	deallocated atomic.Bool
	// kept is set on the tomb of a re-prepare's Close (client pump) when
	// phiguard refused the re-Parse: the Close went to a name no
	// statement has, and the backend keeps the old one (reprepare.go).
	kept atomic.Bool
	// cursors are the SQL cursors it FETCHes or MOVEs, readsPHI whether
	// one of them reads PHI (cursors.go).
	cursors       []string
	readsPHI      bool
	tables        []string
	cursorChanges []cursorChange // the DECLAREs and CLOSEs its Executes carry out
	decision      audit.Decision
	rule          string
	glass         *sqlrewrite.BreakGlass
	// rulesCatalog is the catalog throughRules was worked out on, for
	// bindReprepares, which asks it at every Bind (client pump).
	rulesCatalog *catalog
	throughRules bool
}

// writesThroughRules is c.writesThroughRules of the statement's analysis,
// worked out once per catalog.
func (st *stmtInfo) writesThroughRules(c *catalog) bool {
	if st.rulesCatalog != c || c == nil {
		st.rulesCatalog, st.throughRules = c, c.writesThroughRules(st.analysis)
	}
	return st.throughRules
}

// portalInfo is a bound portal: its statement and result formats.
type portalInfo struct {
	stmt      *stmtInfo
	formats   []int16
	fields    []*resultField // set when the portal itself was described
	described bool
	// rest is what is left of its result after an Execute phiguard
	// answered from rows it held (portions.go); backend pump.
	rest *portion
}

// formatFor applies Bind's result-format rule: none means all text, one
// applies to all columns, otherwise one per column.
func formatFor(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	if i < len(formats) {
		return formats[i]
	}
	return 0
}

// rowFields returns how to present the rows of a portal: its own
// description if it had one, else its statement's with Bind's formats.
func (p *portalInfo) rowFields() ([]*resultField, bool) {
	if p.described {
		return p.fields, true
	}
	if p.stmt == nil || !p.stmt.described {
		return nil, false
	}
	if p.stmt.fields == nil {
		return nil, true
	}
	out := make([]*resultField, len(p.stmt.fields))
	for i, f := range p.stmt.fields {
		if f != nil {
			c := *f
			c.format = formatFor(p.formats, i)
			out[i] = &c
		}
	}
	return out, true
}

// noteSubject adds a subject id seen in this request's rows.
func (x *expectation) noteSubject(t *policy.ProtectedTable, id string, max int) {
	if x == none {
		return
	}
	if x.subjects == nil {
		x.subjects = map[*policy.ProtectedTable]*audit.SubjectSet{}
	}
	ss := x.subjects[t]
	if ss == nil {
		ss = audit.NewSubjectSet(t.Name.String(), t.SubjectColumn, max)
		x.subjects[t] = ss
	}
	ss.Add(id)
}
