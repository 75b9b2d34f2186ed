package guard

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// ORDER BY ... LIMIT through an order term, in rounds
// (docs/design/search-terms.md §4.6; docs/search.md, "LIMIT through an
// order term"). sqlrewrite sends such a statement ordered by its keys
// sent with FETCH FIRST k ROWS WITH TIES (sort_rounds.go), k computed by
// the database from the LIMIT, the OFFSET and a round multiplier M that
// phiguard sets: 1, then 8, 64, ... while 8·k stays within
// limits.proxy_sort_rows, then a last round of every candidate (the cap
// then applies to the rows kept, as without rounds). After a round's
// rows phiguard has re-checked every client predicate on the decrypted
// values; the round suffices when the database returned fewer than k
// rows (every candidate) or phiguard kept OFFSET + LIMIT of them. Else
// the round's rows are dropped and the statement runs again, whole, with
// the next M: each round is one statement, one snapshot.
//
// The client pump, after sending a statement in rounds (a Query, or an
// Execute followed by a Flush), reads nothing more from the client until
// the backend pump says the statement is done (roundWait.done) or asks
// for another round (roundWait.next): the round's messages must reach
// the backend before anything the client sends next. The backend pump
// keeps the answers to a round's own messages from the client: a simple
// Query's ReadyForQuery and the next RowDescription, a portal's Close and
// Bind completions.

// roundWait is how the backend pump tells the client pump what a
// statement in rounds needs.
type roundWait struct {
	next chan int64 // the multiplier of the next round
	done chan struct{}
	once sync.Once
}

// finish says the statement needs no more rounds (nil-safe; any number
// of times). Backend pump: its answer ended, or it left the queue.
func (w *roundWait) finish() {
	if w != nil {
		w.once.Do(func() { close(w.done) })
	}
}

// roundState is a statement's rounds.
type roundState struct {
	wait *roundWait
	plan *sqlrewrite.SortPlan
	// ops are the statement's comparisons on cells, whose one check
	// every round's text carries (sqlrewrite.GateWhere).
	ops []sqlrewrite.OperatorGuard
	// Client pump: what the next round sends. A Query: its text before
	// the sort rewrite and its term constants; an Execute: its portal
	// and the Bind phiguard sent for it.
	query   []byte
	terms   [][]sqlrewrite.TermArg
	natives sqlrewrite.NativeColumn // the catalog's when the first round was sent
	bind    []byte
	virt    *virtualPlan // the portal's statement lived under phiguard's name (plan_reuse.go)
	// Backend pump.
	extended bool
	mult     int64
	k        int64 // this round's k, read from its first row; -1 before
	returned int64 // rows the database returned this round
	// stale counts the rows held this round that read NULL at the
	// order-term key but have an order term (rounds_shredded.go).
	stale   int64
	terms16 [][]byte // per held row (sortRun.rows), its order term
	// termBytes holds terms16's bytes, appended row after row: one
	// buffer that grows, not one allocation per row. A grown buffer
	// leaves the terms already held in the old one, where they stay.
	termBytes []byte
	// the answers to the next round's own messages, kept from the client
	skipReady, skipDescription bool
	skipCompletes              int
}

// sessionRounds is the session's state of rounds. Client pump.
type sessionRounds struct {
	pending *roundState          // sent; the client pump waits on it after the write
	query   *roundState          // made by protectQuery for onQuery's expectation
	binds   map[string]roundBind // per portal of a statement in rounds, the Bind sent
}

// roundBind is the Bind phiguard sent for a portal of a statement in
// rounds, and the statement it bound (the name and what phiguard knew of
// it then): the next rounds bind the portal again from that statement.
type roundBind struct {
	bind []byte
	stmt string
	info *stmtInfo
	virt *virtualPlan // info's when bound (plan_reuse.go)
	// closed: the client closed the portal (noteRoundClose); the Bind is
	// let go first when the session holds maxRoundBinds.
	closed bool
}

func newRoundState(sp *sqlrewrite.SortPlan, mult int64) *roundState {
	return &roundState{wait: &roundWait{next: make(chan int64, 1), done: make(chan struct{})}, plan: sp, mult: mult, k: -1}
}

// querySortedText is sortedText for a simple Query, with the check of
// ops (its comparisons on cells) first in its WHERE; a statement in
// rounds gets its first round's text, and what the next ones need.
func (s *Session) querySortedText(sql []byte, sp *sqlrewrite.SortPlan, terms [][]sqlrewrite.TermArg, ops []sqlrewrite.OperatorGuard) ([]byte, *pgerr.Error) {
	if sp.Rounds == nil {
		out, pe := sortedText(sql, sp, terms, s.nativeColumns())
		if pe != nil {
			return nil, pe
		}
		return gateSorted(out, ops, nil)
	}
	if pe := s.staleRounds(sp); pe != nil {
		return nil, pe
	}
	r := newRoundState(sp, s.firstRoundMult(sp)) // rounds_shredded.go
	r.query, r.terms, r.natives, r.ops = slices.Clone(sql), terms, s.nativeColumns(), ops
	out, pe := roundText(r, r.mult)
	if pe == nil {
		s.rounds.query = r
	}
	return out, pe
}

func roundText(r *roundState, mult int64) ([]byte, *pgerr.Error) {
	out, err := sqlrewrite.RewriteSortRounds(r.query, r.plan, r.terms, strconv.FormatInt(mult, 10), r.natives)
	if err != nil {
		return nil, sortRewriteRefusal(r.plan, err)
	}
	return gateSorted(out, r.ops, nil)
}

// attachQueryRounds gives a Query's expectation the rounds protectQuery
// planned for it. Client pump.
func (s *Session) attachQueryRounds(x *expectation) {
	r := s.rounds.query
	s.rounds.query = nil
	if r == nil || x.sort == nil || x.sort.plan != r.plan {
		return
	}
	x.sort.rounds, x.rounds = r, r.wait
	s.rounds.pending = r
}

// parseSortedText is sortedText for a Parse: a statement in rounds gets
// the multiplier as a parameter phiguard adds after the term parameters
// (a termParam of filter -1, so that it is cut from the client's
// ParameterDescription and filled at each Bind as they are).
func (s *Session) parseSortedText(info *stmtInfo, msg *pgproto3.Parse) ([]byte, *pgerr.Error) {
	sp := info.plan.Sort
	counted := info.hidden == nil && hasTermFilters(sp) // parseTerms counts the client's parameters then
	terms := s.parseTerms(info, msg)                    // protect_search.go
	if sp.Rounds == nil {
		return sortedText([]byte(msg.Query), sp, terms, s.nativeColumns())
	}
	if pe := s.staleRounds(sp); pe != nil {
		return nil, pe
	}
	if info.hidden == nil && info.termParams == nil && !counted { // protect_search.go
		info.clientParams = clientParamCount(msg)
	}
	base := info.clientParams + len(info.hidden) + len(info.termParams)
	for len(msg.ParameterOIDs) < base {
		msg.ParameterOIDs = append(msg.ParameterOIDs, 0) // unspecified, as the client left it
	}
	msg.ParameterOIDs = append(msg.ParameterOIDs, oidInt8)
	info.termParams = append(info.termParams, termParam{filter: -1})
	mult := "$" + strconv.Itoa(base+1)
	if info.like != nil { // its variants take the multiplier too (protect_search_variants.go)
		info.like.oids, info.like.mult = slices.Clone(msg.ParameterOIDs), mult
	}
	if out, ok, pe := s.roundsLiteral(info, []byte(msg.Query), terms, mult, slices.Clone(msg.ParameterOIDs)); ok || pe != nil { // plan_reuse.go
		return out, pe
	}
	out, err := sqlrewrite.RewriteSortRounds([]byte(msg.Query), sp, terms, mult, s.nativeColumns())
	if err != nil {
		return nil, sortRewriteRefusal(sp, err)
	}
	return out, nil
}

// staleRounds refuses a statement in rounds whose order-term column's
// terms were not built under the collation the column has now
// (term_records.go): the database would order the candidates by terms
// that may disagree with the values, and a row ordered out of the window
// would be missed. The plan's text and hidden columns are those of
// rounds, so it cannot fall back to reading every row as a filter's term
// conjunct does.
func (s *Session) staleRounds(sp *sqlrewrite.SortPlan) *pgerr.Error {
	col := sp.Rounds.Column
	if col == nil || s.termsCurrent(col, termRecordOrder) { // unordered rounds: no order term
		return nil
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"ORDER BY ... LIMIT (or min/max) on encrypted column %s runs through its order search terms, which phiguard.search_objects does not record as built under the collation and version the database reports for the column now: run phiguard encrypt --rebuild-terms, then phiguard search install (phiguard check --catalog says more)",
		col.QualifiedName())
}

// multParam is the multiplier's value in a Bind (binary int8).
func multParam(m int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(m)) }

// boundMult is the multiplier a Bind phiguard sent carries (its last
// parameter, bindTerms' firstRoundMult), 1 when it cannot be read: the
// rounds decide from it whether the first round was already the last.
func boundMult(bind []byte) int64 {
	var b pgproto3.Bind
	if len(bind) < 5 || b.Decode(bind[5:]) != nil || len(b.Parameters) == 0 || len(b.Parameters[len(b.Parameters)-1]) != 8 {
		return 1
	}
	return int64(binary.BigEndian.Uint64(b.Parameters[len(b.Parameters)-1]))
}

// noteRoundBind keeps the Bind sent for a portal of a statement in
// rounds (out, or the client's body as it came), for the next rounds.
func (s *Session) noteRoundBind(b boundNames, body, out []byte) {
	info := s.clientPortals[b.portal]
	if info == nil || info.plan == nil || info.plan.Sort == nil || info.plan.Sort.Rounds == nil || out != nil && out[0] != 'B' {
		delete(s.rounds.binds, b.portal)
		return
	}
	if s.rounds.binds == nil {
		s.rounds.binds = map[string]roundBind{}
	}
	if _, held := s.rounds.binds[b.portal]; !held && len(s.rounds.binds) >= maxRoundBinds {
		for name, h := range s.rounds.binds {
			if h.closed {
				delete(s.rounds.binds, name)
			}
		}
		if len(s.rounds.binds) >= maxRoundBinds {
			clear(s.rounds.binds) // a portal whose Bind is let go is refused at its next Execute
		}
	}
	if out == nil {
		out = pgwire.Frame(pgwire.FeBind, body)
	}
	rb := roundBind{bind: slices.Clone(out), stmt: b.stmt, info: info}
	if b.stmt == "" && virtualName(info) != "" {
		rb.virt = info.virt
	}
	s.rounds.binds[b.portal] = rb
}

// maxRoundBinds bounds the Binds a session holds for portals of
// statements in rounds. A portal's Close does not let its Bind go: the
// backend may have skipped the Close (an error earlier in its segment,
// then ROLLBACK TO a savepoint before the Bind), and an Execute of a
// closed portal must reach the backend in rounds, to be answered 34000
// as PostgreSQL answers it, not refused (red team 15). A client naming
// each portal anew would grow the map without the bound.
const maxRoundBinds = 64

// noteRoundClose marks the Bind held for a portal the client closes
// (maxRoundBinds). Client pump.
func (s *Session) noteRoundClose(portal string) {
	if h, ok := s.rounds.binds[portal]; ok {
		h.closed = true
		s.rounds.binds[portal] = h
	}
}

// forgetRoundBinds notes that an SQL DEALLOCATE (or DISCARD ALL) goes to
// the backend: a portal bound from a statement it drops can no longer be
// bound again for a round, and is refused at its next Execute as one
// whose statement was closed. Client pump.
func (s *Session) forgetRoundBinds(a *sqlrewrite.Analysis) {
	for _, st := range a.Statements {
		if st.Deallocates == "" {
			continue
		}
		for name, h := range s.rounds.binds {
			if st.Deallocates == "*" || st.Deallocates == h.stmt {
				h.info = nil
				s.rounds.binds[name] = h
			}
		}
	}
}

// attachExecuteRounds gives an Execute's expectation its rounds. Client
// pump. A portal of a statement in rounds without the Bind phiguard sent
// for it is refused: its text fetches only the first round's rows.
func (s *Session) attachExecuteRounds(x *expectation, st *stmtInfo) *pgerr.Error {
	if x.sort == nil || st.plan == nil || st.plan.Sort == nil || st.plan.Sort.Rounds == nil {
		return nil
	}
	held := s.rounds.binds[x.name]
	if held.bind == nil {
		return internalRefusal(st.plan.Sort.Rounds.Column, "phiguard does not hold the Bind of this portal, which it needs to read it in rounds")
	}
	if held.info == nil || s.clientStmts[held.stmt] != held.info {
		// Closed, or replaced (the unnamed statement by the next Parse):
		// a round's Bind would fail (26000, 08P01) where PostgreSQL reads
		// the portal, or bind another statement (red team 15).
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"portal %q is read in rounds (a LIMIT over what phiguard evaluates on encrypted columns), which binds it again from its prepared statement, and the statement was closed or replaced after the portal's Bind: execute the portal first", x.name)
	}
	mult := boundMult(held.bind)
	if held.virt != nil {
		mult = held.virt.mult // written in the text (plan_reuse.go)
	}
	r := newRoundState(st.plan.Sort, mult)
	r.bind, r.extended, r.virt = held.bind, true, held.virt
	x.sort.rounds, x.rounds = r, r.wait
	s.rounds.pending = r
	return nil
}

// awaitRounds waits, after the client pump sent a statement in rounds,
// until the backend pump says it is done, sending each further round it
// asks for. Client pump.
func (s *Session) awaitRounds() error {
	r := s.rounds.pending
	if r == nil {
		return nil
	}
	s.rounds.pending = nil
	if r.extended {
		if _, err := s.bw.Write(pgwire.FlushMessage); err != nil { // the rows come before the client's Sync
			return err
		}
	}
	if err := s.flushBackend(); err != nil {
		return err
	}
	for {
		select {
		case <-r.wait.done:
			return nil
		case <-s.backendDone:
			return nil
		case m := <-r.wait.next:
			select {
			case <-r.wait.done:
				return nil
			default:
			}
			if err := s.sendRound(r, m); err != nil {
				return err
			}
		}
	}
}

// sendRound sends the statement again with multiplier m.
func (s *Session) sendRound(r *roundState, m int64) error {
	var out []byte
	if !r.extended {
		text, pe := roundText(r, m)
		if pe != nil { // the first round's text was written the same way
			return pgwire.Violation("phiguard could not write a round of a sorted statement again")
		}
		out = pgwire.QueryMessage(text)
	} else if r.virt != nil {
		var err error
		if out, err = virtualRound(r.virt, r.bind, m); err != nil { // plan_reuse.go
			return err
		}
		out = append(out, pgwire.FlushMessage...)
	} else {
		var b pgproto3.Bind
		if err := b.Decode(r.bind[5:]); err != nil || len(b.Parameters) == 0 {
			return pgwire.Violation("phiguard could not read back its own Bind")
		}
		b.Parameters[len(b.Parameters)-1] = multParam(m)
		var err error
		if out, err = (&pgproto3.Close{ObjectType: 'P', Name: b.DestinationPortal}).Encode(nil); err == nil {
			if out, err = b.Encode(out); err == nil {
				out, err = (&pgproto3.Execute{Portal: b.DestinationPortal}).Encode(out)
			}
		}
		if err != nil {
			return err
		}
		out = append(out, pgwire.FlushMessage...)
	}
	if _, err := s.bw.Write(out); err != nil {
		return err
	}
	return s.flushBackend()
}

// roundAnswer keeps from the client the answers to a round's own
// messages. Backend pump.
func (s *Session) roundAnswer(head *expectation, typ byte) bool {
	r := head.sort.rounds
	switch {
	case typ == pgwire.BeReadyForQuery && r.skipReady:
		r.skipReady = false
	case typ == pgwire.BeRowDescription && r.skipDescription:
		r.skipDescription = false
	case (typ == pgwire.BeCloseComplete || typ == pgwire.BeBindComplete || typ == pgwire.BeParseComplete) && r.skipCompletes > 0:
		r.skipCompletes--
	default:
		return false
	}
	return true
}

// roundRow counts a row the database returned, and reads the round's k
// from its first. Backend pump.
func (run *sortRun) roundRow(hidden [][]byte) *pgerr.Error {
	r := run.rounds
	if r == nil {
		return nil
	}
	r.returned++
	if r.k >= 0 {
		return nil
	}
	k, err := strconv.ParseInt(string(hidden[run.plan.Rounds.K]), 10, 64)
	if err != nil || k < 0 {
		return pgerr.New(pgerr.InternalError, "phiguard could not read the row count of a round it asked for")
	}
	r.k = k
	return nil
}

// keepRoundTerm notes the order term of the row just held, read from
// the order-term key's cell as the database's phiguard.term_ord_v1 reads
// it (nil for NULL); visible is the count of the client's columns.
func (run *sortRun) keepRoundTerm(cells [][]byte, visible int) *pgerr.Error {
	r, p := run.rounds, run.plan.Rounds
	if r == nil || !p.TermKey() {
		return nil
	}
	from := len(r.termBytes)
	out, ok, err := keys.AppendOrderTerm(r.termBytes, cells[keyCell(run.plan.Keys[p.Key], visible)]) // protect_sort.go
	if err != nil {
		return pgerr.Newf(pgerr.DataCorrupted, "a value of encrypted column %s has a malformed order search term", p.Column.QualifiedName())
	}
	var term []byte // nil for no term (NULL), which the check reads
	if ok {
		r.termBytes = out
		term = out[from:len(out):len(out)]
	}
	if run.staleRow(term) { // rounds_shredded.go
		r.stale++
	}
	r.terms16 = append(r.terms16, term)
	return nil
}

// nextRound decides, at a round's CommandComplete, whether it suffices;
// if not, it drops the round's rows and asks the client pump for the
// next, and the CommandComplete is kept from the client. Backend pump.
func (s *Session) nextRound(head *expectation) bool {
	run := head.sort
	r := run.rounds
	if r == nil || r.k < 0 || r.returned < r.k {
		return false
	}
	need, kept := run.need()
	if need < 0 || kept >= need {
		return false
	}
	if r.k == 1<<63-1 || r.mult >= everyCandidate {
		return false // the last round: every candidate
	}
	rowCap := int64(s.srv.cfg.Limits.ProxySortRows)
	if rowCap <= 0 {
		rowCap = 100000
	}
	next := r.mult * 8
	if r.k > rowCap/8 {
		next = everyCandidate // k beyond 2^63-1: LEAST makes it every candidate
	}
	run.rows, run.bytes, run.held, r.terms16, r.termBytes, r.stale = nil, 0, 0, nil, nil, 0
	if run.plan.Rounds.Agg && len(run.aggs) == 1 {
		run.aggs[0] = aggState{order: run.aggs[0].order}
	}
	r.returned, r.k, r.mult = 0, -1, next
	if r.extended {
		r.skipCompletes = 2
		if r.virt != nil {
			r.skipCompletes = 3 // and the round's Parse (plan_reuse.go)
		}
	} else {
		r.skipReady, r.skipDescription = true, true
	}
	if m := s.srv.metrics; m != nil && m.SearchRounds != nil {
		m.SearchRounds.Inc()
	}
	r.wait.next <- next
	return true
}

// need is how many rows a round must keep, -1 for every candidate
// (no LIMIT, or one past any result), and how many it kept: for min or
// max, one non-NULL value.
func (run *sortRun) need() (need, kept int64) {
	if run.plan.Rounds.Agg {
		if len(run.aggs) == 1 && run.aggs[0].seen {
			kept = 1
		}
		return 1, kept
	}
	if run.limit < 0 {
		return -1, 0
	}
	need = run.limit
	if run.offset > 0 {
		need += run.offset
		if need < run.limit { // overflow
			return -1, 0
		}
	}
	var stale int64
	if run.rounds != nil {
		stale = run.rounds.stale // rounds_shredded.go
	}
	return need, int64(len(run.rows)) - stale
}

// checkTermOrder is the consistency check of §4.6: in the exact order of
// the rows kept, within ties of the keys before the order-term key, a
// value before another has a term not after its term, and equal values
// have equal terms. A term written under another collation, for another
// value, or altered, breaks it; the database's cut could then have left
// out a row that belongs in the answer, so the statement fails (XX001
// naming the column) rather than answer in a wrong order.
func (run *sortRun) checkTermOrder(order []int32) *pgerr.Error {
	r := run.rounds
	if r == nil || !run.plan.Rounds.TermKey() || r.allCandidates() { // no order to check; or every candidate held
		return nil
	}
	if len(r.terms16) != len(run.rows) {
		return pgerr.New(pgerr.InternalError, "phiguard lost the order terms of the rows it holds")
	}
	key := run.plan.Rounds.Key
	col := run.plan.Rounds.Column.QualifiedName()
	nullsLast := !run.plan.Keys[key].NullsFirst
	for _, o := range order {
		// A NULL value with a term (a shredded subject's cell not yet
		// rewritten, docs/shredding.md), or a value without one: the
		// database placed the row by a term its value does not have, and
		// phiguard places it among the NULLs. With NULLs first it took a
		// place in the window that a row left out may have been owed (red
		// team 15: ORDER BY name LIMIT 1 answered a NULL where the first
		// real name belongs); with NULLs last it belongs after every value
		// and was not counted as kept (rounds_shredded.go).
		if nullsLast && r.terms16[o] != nil && run.rows[o].keys[key].null {
			continue
		}
		if run.rows[o].keys[key].null != (r.terms16[o] == nil) {
			return pgerr.Newf(pgerr.DataCorrupted,
				"a row of encrypted column %s has an order search term but reads as NULL, or a value but no order search term (a shredded subject's cell whose terms were not rewritten, or a cell altered in the database): phiguard cannot trust the database's order for ORDER BY %s; run phiguard shred --terms-only for the subject, or rebuild the column's terms (phiguard backfill --rebuild-terms)", col, col)
		}
	}
	for i := 1; i < len(order); i++ {
		a, b := &run.rows[order[i-1]], &run.rows[order[i]]
		if !samePrefix(a.keys[:key], b.keys[:key]) {
			continue
		}
		x, y := a.keys[key], b.keys[key]
		ta, tb := r.terms16[order[i-1]], r.terms16[order[i]]
		if x.null || y.null || ta == nil || tb == nil {
			continue
		}
		// The signs must agree whatever the direction.
		c := run.keyOrder(key).compare(x.key, y.key)
		t := bytes.Compare(ta, tb)
		if c == 0 && t != 0 || c < 0 && t > 0 || c > 0 && t < 0 {
			return pgerr.Newf(pgerr.DataCorrupted,
				"the order search term of a row of encrypted column %s disagrees with its value (a term written under another collation or key, or altered in the database): phiguard cannot trust the database's order for ORDER BY %s; rebuild the column's terms (phiguard backfill --rebuild-terms)", col, col)
		}
	}
	return nil
}

// samePrefix: the plaintext keys' ranks (or values, sort_native.go) are
// equal.
func samePrefix(a, b []sortValue) bool {
	for i := range a {
		if a[i].null != b[i].null || a[i].rank != b[i].rank || a[i].keyed && a[i].key.CompareTo(&b[i].key) != 0 {
			return false
		}
	}
	return true
}
