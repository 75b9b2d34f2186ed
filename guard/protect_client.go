package guard

import (
	"fmt"
	"slices"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// protectClient handles one client message under a policy: it records
// what the backend will answer and returns the message to send instead of
// the original (nil: forward it unchanged). a is the message's analysis
// for Query and Parse, nil otherwise. Each message type has its own small
// handler (clientHandlers).
func (s *Session) protectClient(typ byte, a *sqlrewrite.Analysis) ([]byte, error) {
	// A reload reaches the session at its next message that runs
	// something: Query, Parse, Bind, Execute (a suspended portal resumed)
	// or FunctionCall.
	if s.srv.protect != nil && (typ == pgwire.FeQuery || typ == pgwire.FeParse || typ == pgwire.FeBind || typ == pgwire.FeExecute || typ == pgwire.FeFunctionCall) && s.bindPolicy() {
		s.objsNeeded = true
	}
	s.freshBeforeCopy(typ, a)
	s.freshBeforeUnknown(typ, a)
	if err := s.awaitFreshCatalog(typ); err != nil {
		return nil, err
	}
	if typ == pgwire.FeQuery {
		s.notePathChange(a) // catalog_path_follow.go; a Bind's: onBind
	}
	s.noteDDL(a) // catalog_epoch.go; a Bind's: onBind
	if s.ddlSeen {
		s.ddlRead = s.ddlReadInBlock(typ, a) // own_recover.go
	}
	if s.srv.protect != nil && (typ == pgwire.FeFunctionCall || a != nil && mayChangeOutput(a)) {
		// Read extra_float_digits and bytea_output after it (output.go);
		// a FunctionCall may be set_config itself.
		s.outputSeen = true
	}
	s.noteDatetimeChange(typ, a) // datetime_pending.go
	s.notePlanSettings(typ, a)   // plan_reuse_settings.go
	if typ == pgwire.FeQuery {
		s.forgetVariants(a) // protect_search_variants.go
		s.endVirtual()      // plan_reuse.go; and marks the unnamed statement dropped
	}
	s.noteSettingsUnseen(typ, a) // settings_unseen.go
	if h := clientHandlers[typ]; h != nil {
		return h(s, typ, a)
	}
	return nil, nil
}

// clientHandler handles one client message; the result is protectClient's.
type clientHandler func(s *Session, typ byte, a *sqlrewrite.Analysis) ([]byte, error)

var clientHandlers = [256]clientHandler{
	pgwire.FeCopyData:     (*Session).onCopyIn,
	pgwire.FeCopyDone:     (*Session).onCopyIn,
	pgwire.FeCopyFail:     (*Session).onCopyIn,
	pgwire.FeFunctionCall: func(s *Session, _ byte, _ *sqlrewrite.Analysis) ([]byte, error) { return s.protectFunctionCall() },
	pgwire.FeQuery:        (*Session).onQuery,
	pgwire.FeParse:        (*Session).onParse,
	pgwire.FeBind:         (*Session).onBind,
	pgwire.FeDescribe:     (*Session).onDescribeOrClose,
	pgwire.FeClose:        (*Session).onDescribeOrClose,
	pgwire.FeExecute:      (*Session).onExecute,
	pgwire.FeSync:         (*Session).onSync,
}

// onCopyIn encrypts the rows of a COPY FROM STDIN being rewritten.
func (s *Session) onCopyIn(typ byte, _ *sqlrewrite.Analysis) ([]byte, error) {
	if s.copyIn == nil {
		return nil, nil
	}
	return s.copyInData(typ)
}

// onQuery applies the role's rules and the encryption plan to a simple
// Query, admits it to the audit trail, and sets up its COPY if it is one.
func (s *Session) onQuery(_ byte, a *sqlrewrite.Analysis) ([]byte, error) {
	s.copyIn = nil
	x := &expectation{kind: expQuery, analysis: a, start: time.Now(), publishesDDL: s.ddlOwn}
	if a == nil {
		s.expects.push(x)
		return nil, nil
	}
	body, err := s.cr.Body()
	if err != nil {
		return nil, err
	}
	sql := body[:max(len(body)-1, 0)]
	listed, la, filledFrom := s.fillColumnList(a, sql)
	filled := filledFrom != nil
	if filled {
		sql, a, x.analysis, x.filled = listed, la, la, true
	}
	v := s.checkAccess(sql, a)
	x.decision, x.rule, x.glass = v.decision, v.rule, v.glass
	if v.refusal != nil {
		s.expects.push(x)
		return pgwire.QueryMessage(s.refuseAccess(v, a)), nil
	}
	replaced := s.protectQuery(v.analysis, v.sql)
	if replaced == nil && (v.access != nil && v.access.Changed || filled) {
		replaced = v.sql
	}
	plan := s.planOf(v.analysis)
	x.names = namesOf(plan) // catalog_qualified.go
	var fpe *pgerr.Error
	if plan.Refusal == nil {
		x.sort = newSortRun(plan.Sort)
		s.attachQueryRounds(x) // protect_rounds.go
		x.orderPositions = plan.OrderPositions
		if x.sort != nil {
			x.sort.filterArgs, fpe = s.queryFilterArgs(v.sql, plan.Sort) // filter_args.go
		}
	}
	if s.srv.auditor != nil {
		x.written = writtenColumns(plan)
	}
	phi := touchesPHI(plan, decisionsKey(v.access))
	cur, pe := s.noteCursors(a, phi, v.decision, v.rule)
	if pe == nil {
		pe = fpe
	}
	x.cursorChanges = cur.changes
	if pe == nil && cur.readsPHI {
		phi = true
		x.decision, x.rule, x.tables = cur.decision, cur.rule, cur.tables
	}
	if pe == nil && phi {
		pe = s.reserveRecords(x, max(len(a.Statements), 1))
	}
	if pe != nil {
		s.expects.push(x)
		return pgwire.QueryMessage(s.refuseStatement(pe, a)), nil
	}
	if pe := s.startCopy(x, plan); pe != nil {
		replaced = s.refuseStatement(pe, a)
	} else {
		if filled {
			replaced = s.guardFilledList(replaced, a, filledFrom, nil)
		}
		guarded, pe := s.guardDefaults(replaced, v.sql, plan, nil)
		x.guarded = plan != nil && len(plan.Defaults) > 0
		if replaced = guarded; pe != nil {
			replaced = s.refuseStatement(pe, a)
		} else {
			replaced = s.guardCollations(replaced, v.sql, plan) // collation_guard.go
		}
	}
	s.expects.push(x)
	if replaced != nil {
		return pgwire.QueryMessage(replaced), nil
	}
	return nil, nil
}

func (s *Session) onParse(_ byte, a *sqlrewrite.Analysis) ([]byte, error) {
	body, err := s.cr.Body()
	if err != nil {
		return nil, err
	}
	name, _, _ := pgwire.Cstring(body)
	closes := s.closeVariants(string(name)) // protect_search_variants.go: the name's old variants
	out, err := s.protectParse(a, body, false)
	if closes == nil || err != nil {
		return out, err
	}
	if out == nil {
		out = pgwire.Frame(pgwire.FeParse, body)
	}
	return append(closes, out...), nil
}

// onDescribeOrClose records which statement or portal the answer is about.
func (s *Session) onDescribeOrClose(typ byte, _ *sqlrewrite.Analysis) ([]byte, error) {
	body, err := s.cr.Body()
	if err != nil {
		return nil, err
	}
	if len(body) < 2 {
		return nil, pgwire.Violation(fmt.Sprintf("message %q too short", typ))
	}
	name, _, _ := pgwire.Cstring(body[1:])
	var x *expectation
	var closes []byte
	if out := s.planNameRefusal(typ, body[0], string(name)); out != nil { // plan_reuse.go
		return out, nil
	}
	switch {
	case typ == pgwire.FeClose:
		x = s.expects.fresh(expClose)
		x.name, x.closeS = string(name), body[0] == 'S'
		if x.closeS {
			closes = s.closeVariants(x.name) // protect_search_variants.go
			x.prep = s.noteClose(x.name)
		} else {
			// A portal's Close keeps its Bind (protect_rounds.go):
			// PostgreSQL may have skipped the Close, and an Execute after
			// it is PostgreSQL's to answer (34000).
			s.noteRoundClose(x.name)
		}
	case body[0] == 'S':
		x = s.expects.fresh(expDescribeStmt)
		x.name = string(name)
		st, err := s.boundStatement(x.name)
		if err != nil {
			return nil, err
		}
		if st != nil {
			st.clientDescribed = true
		}
		if out, err := s.describeUnprepared(x, st); out != nil || err != nil { // reprepare_unnamed.go
			return out, err
		}
		if n := virtualName(st); n != "" && x.name == "" { // plan_reuse.go: the answer stays the client's
			revived, err := s.reviveVirtual("") // plan_reuse_revive.go
			if err != nil {
				return nil, err
			}
			s.expects.push(x)
			return append(revived, pgwire.Frame(typ, append(append([]byte{'S'}, n...), 0))...), nil
		}
	default:
		x = s.expects.fresh(expDescribePortal)
		x.name = string(name)
		s.describedPortals[x.name] = true
	}
	s.expects.push(x)
	if closes != nil {
		return append(closes, pgwire.Frame(typ, body)...), nil
	}
	return nil, nil
}

// onExecute admits a portal's execution: only portals phiguard saw bound,
// with room for their audit record when they touch PHI.
func (s *Session) onExecute(_ byte, _ *sqlrewrite.Analysis) ([]byte, error) {
	body, err := s.cr.Body()
	if err != nil {
		return nil, err
	}
	name, _, _ := pgwire.Cstring(body)
	x := s.expects.fresh(expExecute)
	x.name, x.start = string(name), time.Now()
	st, bound := s.clientPortals[x.name]
	if !bound && s.srv.protect != nil {
		s.expects.push(x)
		return s.markerParse("", pgerr.Newf(pgerr.FeatureNotSupported,
			"portal %q was not bound through phiguard (a cursor declared in SQL?): read it with FETCH, which phiguard checks", x.name), nil), nil
	}
	if st != nil {
		// A portal bound before a reload, resumed after it, and a FETCH of
		// a cursor declared before it, are checked again.
		pe := s.recheckPrepared(st)
		if pe == nil {
			pe = s.sealedUnderWithdrawn(st.plan)
		}
		x.analysis, x.written, x.filled = st.analysis, st.written, st.filled
		x.plan = reusedPlan(st, "") // plan_reuse.go
		s.outputSeen = s.outputSeen || mayChangeOutput(st.analysis)
		x.decision, x.rule, x.glass = st.decision, st.rule, st.glass
		x.cursorChanges = st.cursorChanges
		s.noteExecuteUnseen(st)   // settings_unseen.go
		s.noteDatetimeExecute(st) // datetime_pending.go
		s.noteExecutePlanSettings(st)
		s.forgetVariants(st.analysis)
		phi := touchesPHI(st.plan, st.decisions)
		if pe == nil && len(st.cursors) > 0 {
			var cur cursorRequest
			if cur, pe = s.readCursors(st.cursors); cur.readsPHI {
				phi = true
				x.decision, x.rule, x.tables = cur.decision, cur.rule, cur.tables
			}
		}
		if pe == nil && phi {
			pe = s.reserveRecords(x, 1)
		}
		if pe == nil {
			pe = s.startCopy(x, st.plan)
		}
		if pe == nil && st.plan != nil && st.plan.Sort != nil {
			x.sort = newSortRun(st.plan.Sort)
			x.portion, body, pe = executeLimit(body) // portions.go: the backend gets no limit
			if pe == nil {
				pe = s.executeFilters(x)
			}
		}
		if pe != nil {
			s.expects.push(x)
			return s.markerParse("", pe, st.analysis), nil
		}
		if pe := s.attachExecuteRounds(x, st); pe != nil { // protect_rounds.go
			s.expects.push(x)
			return s.markerParse("", pe, st.analysis), nil
		}
		if s.needsDescribe(x.name, st) {
			out := s.describeThenExecute(x.name, body) // queues the Describe's expectation first
			s.expects.push(x)
			return out, nil
		}
	}
	s.expects.push(x)
	if x.portion > 0 {
		return executeMessage(body), nil
	}
	return nil, nil
}

func (s *Session) onSync(_ byte, _ *sqlrewrite.Analysis) ([]byte, error) {
	s.noteSync()
	s.segmentUnseen = false // settings_unseen.go
	// A Describe of a portal in this segment may have been skipped after
	// an error, and the portal, bound before a savepoint, run after a
	// ROLLBACK TO it: a portal's next Execute describes it again (the
	// answer of an injected Describe is the client's to miss).
	clear(s.describedPortals)
	x := s.expects.fresh(expSync)
	x.publishesDDL = s.ddlOwn // catalog_epoch.go
	s.expects.push(x)
	return nil, nil
}

// protectParse plans a Parse: literals are encrypted in its text, protected
// parameters are declared as text (the type of a cell), and the statement's
// parameter slots are remembered for its Binds. injected: phiguard sends
// the Parse itself (reprepare.go), and keeps its answer.
func (s *Session) protectParse(a *sqlrewrite.Analysis, body []byte, injected bool) ([]byte, error) {
	var msg pgproto3.Parse
	if err := msg.Decode(body); err != nil {
		return nil, pgwire.Violation("malformed Parse message")
	}
	s.copyIn = nil
	// For a re-Parse (reprepared, made if needed); types copied before edits.
	againQuery, againOIDs := msg.Query, slices.Clone(msg.ParameterOIDs)
	listed, la, filledFrom := s.fillColumnList(a, []byte(msg.Query))
	if filledFrom != nil {
		msg.Query, a = string(listed), la
	}
	info := &stmtInfo{analysis: a, pol: s.policy(), sql: msg.Query, sent: msg.Query, filled: filledFrom != nil}
	v := s.checkAccess([]byte(msg.Query), a)
	info.decision, info.rule, info.glass = v.decision, v.rule, v.glass
	info.decisions = decisionsKey(v.access)
	if v.refusal != nil {
		info.plan = &sqlrewrite.Plan{}
		s.noteParse(msg.Name, info)
		s.expects.push(&expectation{kind: expParse, name: msg.Name, prep: info, analysis: a, start: time.Now(), injected: injected, answer: s.takeErrorPreface(injected)})
		return parseMessage([]byte(msg.Name), s.refuseAccess(v, a)), nil
	}
	rewritten := v.access != nil && v.access.Changed
	if rewritten {
		msg.Query = string(v.sql)
		info.sent = msg.Query
	}
	info.plan = s.parsePlan(v.analysis)
	if s.srv.auditor != nil {
		info.written = writtenColumns(info.plan)
	}
	cur, cpe := s.noteCursors(a, touchesPHI(info.plan, info.decisions), info.decision, info.rule)
	info.cursors, info.readsPHI, info.tables, info.cursorChanges = cur.read, cur.readsPHI, cur.tables, cur.changes
	if cur.readsPHI {
		info.decision, info.rule = cur.decision, cur.rule
	}
	s.noteParse(msg.Name, info)
	px := &expectation{kind: expParse, name: msg.Name, prep: info, analysis: a, start: time.Now(), injected: injected, answer: s.takeErrorPreface(injected), variant: s.parseVariant(msg.Name, a, info, !rewritten && filledFrom == nil && !injected)}
	s.expects.push(px)
	if filledFrom != nil || s.textHoldsGuard(info.plan) {
		info.again = &reprepared{query: againQuery, oids: againOIDs} // reprepare.go
	}
	if pe := variantNameRefusal(msg.Name, s.parseRefusal(a, info, cpe)); pe != nil { // protect_search_variants.go
		return s.markerParse(msg.Name, pe, a), nil
	}
	if !info.plan.Protected {
		if rewritten {
			return msg.Encode(nil)
		}
		return nil, nil
	}
	if info.plan.Refusal != nil {
		return s.markerParse(msg.Name, info.plan.Refusal.PgError(), a), nil
	}
	if pe := s.auditUnavailable(info.plan); pe != nil {
		return s.markerParse(msg.Name, pe, a), nil
	}
	if pe := s.planCatalogRefusal(info.plan); pe != nil {
		return s.markerParse(msg.Name, pe, a), nil
	}
	if slices.ContainsFunc(info.plan.Values, keyedAtParse) {
		// Taken before sealing: a swap meanwhile makes it older than some
		// cells, and the Bind asks for a new Parse rather than trust them.
		info.keysGen = s.srv.protect.keySet().known.gen
	}
	if pe := s.parseConstants(info, &msg); pe != nil {
		return s.markerParse(msg.Name, pe, a), nil
	}
	if pe := planParams(info, &msg); pe != nil {
		return s.markerParse(msg.Name, pe, a), nil
	}
	if pe := s.addHiddenParams(info, &msg); pe != nil {
		return s.markerParse(msg.Name, pe, a), nil
	}
	if pe := s.lastParseEdits(&msg, info, a, filledFrom); pe != nil {
		return s.markerParse(msg.Name, pe, a), nil
	}
	return s.reusePlan(info, &msg, px) // plan_reuse.go
}

// parsePlan is the plan of an analysed statement under the session's
// policy, an empty one without analysis (made here, not before the
// access check, where it was one allocation per Parse thrown away).
func (s *Session) parsePlan(a *sqlrewrite.Analysis) *sqlrewrite.Plan {
	if a == nil {
		return &sqlrewrite.Plan{}
	}
	return s.planOf(a)
}

// lastParseEdits guards a filled column list and rewrites a statement
// sorted in the proxy (protect_sort.go), the last edits of a Parse's
// text, then refuses one whose checks scan along search_path behind a
// call that may change it.
func (s *Session) lastParseEdits(msg *pgproto3.Parse, info *stmtInfo, a *sqlrewrite.Analysis, filledFrom *catalog) *pgerr.Error {
	params := declaredParams(msg.ParameterOIDs)
	if filledFrom != nil {
		msg.Query = string(s.guardFilledList([]byte(msg.Query), a, filledFrom, params))
	}
	guarded, pe := s.guardDefaults(nil, []byte(msg.Query), info.plan, params)
	if pe != nil {
		return pe
	}
	if guarded != nil {
		msg.Query = string(guarded)
	}
	if g := s.guardCollations(nil, []byte(msg.Query), info.plan); g != nil { // collation_guard.go
		msg.Query = string(g)
	}
	if info.plan.Sort != nil {
		sorted, pe := s.parseSortedText(info, msg) // protect_rounds.go, protect_search.go
		if pe == nil {
			sorted, pe = gateSortedRead(sorted, info) // sorted_gate.go
		}
		if pe != nil {
			return pe
		}
		msg.Query = string(sorted)
	}
	return scanCheckRefusal(a, info.plan, []byte(msg.Query)) // scan_check.go
}

// protectBind encrypts the protected parameters of a Bind and sends them
// as text.
func (s *Session) protectBind(body []byte, b boundNames) ([]byte, error) {
	portal, stmt := b.portal, b.stmt
	info, err := s.boundStatement(stmt)
	if err != nil {
		return nil, err
	}
	x := s.expects.fresh(expBind)
	x.name, x.stmt, x.formats, x.start, x.filled = portal, stmt, b.results, time.Now(), info != nil && info.filled
	x.plan = reusedPlan(info, stmt) // plan_reuse.go
	s.expects.push(x)
	s.clientPortals[portal] = info
	delete(s.describedPortals, portal)
	s.noteFilters(portal, info) // filter_args.go
	// variantNameRefusal: protect_search_variants.go.
	if pe := variantNameRefusal(stmt, ownPortalRefusal(portal, s.bindRefusalOf(stmt, info))); pe != nil { // own_messages.go
		var a *sqlrewrite.Analysis
		if info != nil {
			a = info.analysis
		}
		return s.markerParse("", pe, a), nil
	}
	if info == nil || len(info.params) == 0 && len(info.filterParams) == 0 && info.termParams == nil {
		return nil, nil // nothing to encrypt or add: the Bind goes as it came
	}
	msg, ok := s.bindScratch.splitBind(body) // bind_rewrite.go
	if !ok {
		return nil, pgwire.Violation("malformed Bind message")
	}
	var extra [][]byte
	if info.hidden != nil || info.termParams != nil {
		if len(msg.params) != info.clientParams {
			// PostgreSQL's own check, made here so that its message counts
			// the client's parameters only.
			return s.markerParse("", pgerr.Newf(pgerr.ProtocolViolation,
				"bind message supplies %d parameters, but prepared statement \"%s\" requires %d", len(msg.params), stmt, info.clientParams), info.analysis), nil
		}
		var pe *pgerr.Error
		if extra, pe = s.hiddenValues(info.hidden, msg.params, msg.formats); pe != nil {
			return s.markerParse("", pe, info.analysis), nil
		}
	}
	// Subjects are read from the parameters as the client sent them: the
	// slots change only once every value is sealed.
	encrypted, pe := s.encryptParams(s.bindScratch.sealed, info, msg.params, msg.formats)
	s.bindScratch.sealed = encrypted
	if pe != nil {
		return s.markerParse("", pe, info.analysis), nil
	}
	for i, c := range encrypted {
		if c != nil {
			msg.params[i], msg.formats[i] = c, 0 // cells are text
		}
	}
	if pe := s.bindFilters(portal, info, msg.params, msg.formats); pe != nil { // blanks them
		return s.markerParse("", pe, info.analysis), nil
	}
	if pe := s.appendAdded(info, portal, &msg, extra); pe != nil { // protect_search.go
		return s.markerParse("", pe, info.analysis), nil
	}
	return s.bindScratch.appendBind(msg), nil
}

// markerParse is a Parse that fails in the backend with the refusal marker
// (see protect_query.go), standing in for a message phiguard refuses.
func (s *Session) markerParse(name string, pe *pgerr.Error, a *sqlrewrite.Analysis) []byte {
	return parseMessage([]byte(name), s.refuseStatement(pe, a))
}

// parseRefusal is the first reason a planned Parse must not run: a text
// lexed under a setting a function may have changed (unseenInSegment), a
// write or read through a view, a catalog known stale inside a segment
// (staleInSegment), a write naming a relation the catalog lacks inside
// one (unknownWriteInSegment), or cpe, its cursors' refusal.
func (s *Session) parseRefusal(a *sqlrewrite.Analysis, info *stmtInfo, cpe *pgerr.Error) *pgerr.Error {
	plan := info.plan
	if s.segmentUnseen { // not a copy of the text per Parse otherwise
		if pe := s.unseenInSegment([]byte(info.sql)); pe != nil { // settings_unseen.go
			return pe
		}
	}
	if pe := s.executeRefusal(a); pe != nil { // sql_prepared.go
		return pe
	}
	if pe := s.viewWriteRefusal(a); pe != nil {
		return pe
	}
	if pe := s.staleInSegment(plan); pe != nil {
		return pe
	}
	if pe := s.unknownWriteInSegment(a); pe != nil { // catalog_names.go
		return pe
	}
	if pe := s.unknownColumnInSegment(a); pe != nil { // catalog_computed.go
		return pe
	}
	if pe := s.pathInSegment(a); pe != nil { // catalog_path_follow.go
		return pe
	}
	return cpe
}

// oidText is PostgreSQL's text type, the type of every cell.
const oidText = 25

// refreshCatalogAfterDDL queues phiguard's catalog query behind a request
// that ran DDL (a Query, or a Sync ending a batch), and the output
// settings' query behind one that may have changed them (also a
// FunctionCall, a request of its own), so the mapping of
// result columns to protected columns stays current. Its answer is
// swallowed by the backend pump.
func (s *Session) refreshCatalogAfterDDL(typ byte) error {
	if typ == pgwire.FeFunctionCall {
		return s.queueOutputQuery()
	}
	if typ != pgwire.FeQuery && typ != pgwire.FeSync {
		return nil
	}
	if err := s.queueOutputQuery(); err != nil {
		return err
	}
	if s.ddlSeen {
		s.ddlSeen = false
		x := &expectation{kind: expCatalog, catalog: newCatalogBuilder(s.policy()), done: make(chan struct{})}
		x.catalog.afterDDL, s.ddlOwn = s.ddlOwn, false // published when answered (catalog_epoch.go)
		msg := s.catalogQueryMessage(x.catalog)        // noted before the backend pump may see it
		if s.ddlRead {
			msg = inSavepoint(msg) // own_recover.go
		}
		s.catalogInFlight = &queuedRead{x: x, savepointed: s.ddlRead} // the next segment waits for it (catalog_fresh.go)
		s.ddlRead = false
		s.expects.push(x)
		if _, err := s.bw.Write(msg); err != nil {
			return err
		}
		// DDL may have made, dropped or shadowed objects the access
		// rewriter relies on.
		s.objsNeeded = s.objsNeeded || s.restricted() != nil
	}
	if s.objsNeeded {
		s.objsNeeded = false
		return s.queueObjects()
	}
	return nil
}
