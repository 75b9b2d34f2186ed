package guard

import (
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// protectBackend handles one backend message under a policy, keeping the
// expectation queue in step (see expect.go). It reports whether it wrote
// (or deliberately dropped) the message itself; otherwise the pump
// forwards the original bytes. Each message type has its own small
// handler (backendHandlers); a type without one passes, unless it belongs
// to a result phiguard already failed.
func (s *Session) protectBackend(typ byte) (bool, error) {
	head := s.expects.head()
	asynchronous := typ == pgwire.BeNoticeResponse || typ == pgwire.BeParameterStatus || typ == pgwire.BeNotification
	if ownKind(head.kind) && !asynchronous {
		if err := s.noteOwnAnswer(head, typ); err != nil { // own_recover.go
			return false, err
		}
	}
	if head.kind == expRecover && !asynchronous {
		return true, s.ownRecoverAnswer(head, typ)
	}
	if head.kind == expCatalog && !asynchronous {
		return true, s.catalogAnswer(head, typ)
	}
	if head.kind == expObjects && !asynchronous {
		return true, s.objectsAnswer(head, typ)
	}
	if head.kind == expOutput && !asynchronous {
		return true, s.outputAnswer(head, typ)
	}
	if head.kind == expColumns && !asynchronous {
		return true, s.columnsAnswer(head, typ)
	}
	if head.kind == expAbort && !asynchronous {
		return s.abortAnswer(head, typ) // txabort.go
	}
	if head.kind == expTypes && !asynchronous {
		return s.typesAnswer(head, typ) // reprepare_unnamed.go
	}
	if s.heldStatus != 0 && !asynchronous && !ownKind(head.kind) {
		// A request the client pipelined overtook the abort.
		if err := s.releaseHeld(); err != nil {
			return false, err
		}
	}
	if head.sort != nil && head.sort.rounds != nil && s.roundAnswer(head, typ) { // protect_rounds.go
		return true, nil
	}
	if h := backendHandlers[typ]; h != nil {
		return h(s, typ, head)
	}
	return s.suppress, nil // the rest of a result phiguard already failed
}

// backendHandler handles one backend message for the request at the head
// of the queue; the result is protectBackend's.
type backendHandler func(s *Session, typ byte, head *expectation) (bool, error)

var backendHandlers = [256]backendHandler{
	pgwire.BeErrorResponse:        (*Session).onBackendError,
	pgwire.BeReadyForQuery:        (*Session).onReadyForQuery,
	pgwire.BeParameterStatus:      (*Session).onParameterStatus,
	pgwire.BeParseComplete:        (*Session).onParseComplete,
	pgwire.BeBindComplete:         (*Session).onBindComplete,
	pgwire.BeCloseComplete:        (*Session).onCloseComplete,
	pgwire.BeParameterDescription: (*Session).onParameterDescription,
	pgwire.BeNoData:               (*Session).onNoData,
	pgwire.BeRowDescription:       (*Session).onRowDescription,
	pgwire.BeDataRow:              (*Session).onDataRow,
	pgwire.BeCopyData:             (*Session).onCopyData,
	pgwire.BeFunctionCallResponse: (*Session).onFunctionCallResponse,
	pgwire.BeCommandComplete:      (*Session).onCommandComplete,
	pgwire.BeEmptyQuery:           (*Session).onCommandComplete,
	pgwire.BePortalSuspended:      (*Session).onCommandComplete,
}

// onBackendError: phiguard's own refusals (their markers) become its
// errors, a failed write check names its rule, the statement is recorded,
// the queue skips to Sync as PostgreSQL does, and for a role with rules
// fields that can carry values are removed.
func (s *Session) onBackendError(_ byte, head *expectation) (bool, error) {
	body, err := s.br.Body()
	if err != nil {
		return false, err
	}
	head = s.typesDescribeFailed(head) // reprepare_types.go
	if err := s.errorPreface(head, body); err != nil {
		return true, err
	}
	head.answeredError()   // plan_reuse.go
	s.backendErrors.Add(1) // plan_reuse_settings.go
	if head.filled || head.kind == expParse && head.prep != nil && head.prep.filled {
		// A statement whose column list phiguard filled from its catalog
		// failed. The column guard names a stale catalog, but it runs
		// with the statement: an error PostgreSQL raises first, at parse
		// analysis (a value the stale list sends to a column of another
		// type, or to a generated one), does not. Read the catalog
		// before the next request all the same, or running the
		// statement again fails the same way until the next DDL.
		s.catalogStale.Store(true)
		// And prepare the statement again at its next Bind: its text
		// holds the stale list, which fails the same way at every
		// execution (a value too long for the column the stale list
		// gives it) where PostgreSQL re-plans the client's statement.
		s.markGuardFailed(head)
	}
	s.privilegesMayBeStale(head, body) // column_check.go
	handled, err := s.replaceRefusal(body, head)
	if err != nil {
		return false, err
	}
	if !handled && head.kind == expBind {
		// PostgreSQL plans an unnamed statement at Bind, so a bad
		// parameter or an error in constant folding ends the
		// statement here; its Execute is skipped and would leave no
		// record.
		if st := s.stmts[head.stmt]; st != nil {
			head.analysis, head.written = st.analysis, st.written
		}
	}
	if !handled && (head.kind == expQuery || head.kind == expExecute || head.kind == expParse || head.kind == expBind) {
		code, _ := pgwire.ErrorField(body, 'C')
		s.recordStatement(head, nil, string(code))
	}
	if head.kind != expQuery {
		s.expects.skipToSync()
	}
	if !handled {
		if done, err := s.planResultChanged(head, body); done || err != nil { // plan_reuse.go
			return done, err
		}
		if done, err := s.cellCheckRefused(body); done || err != nil { // cellcheck_error.go
			return done, err
		}
		return s.redactBackendError(body)
	}
	return true, nil
}

// replaceRefusal writes phiguard's own error in place of the backend's
// when the backend's error is a refusal marker or a failed write check.
func (s *Session) replaceRefusal(body []byte, head *expectation) (bool, error) {
	msg, ok := pgwire.ErrorField(body, 'M')
	if !ok {
		return false, nil
	}
	var r refusal
	if r, ok = s.refusals.match(msg); !ok {
		rc, isCheck := sqlrewrite.WriteCheckRefusal(string(msg))
		if !isCheck {
			if rc, isCheck = sqlrewrite.ColumnsChangedRefusal(string(msg)); isCheck {
				// The column guard of a filled column list failed: the
				// catalog is stale; read it before the next request, and
				// prepare the statement again at its next Bind.
				s.catalogStale.Store(true)
				s.markGuardFailed(head)
			} else if rc, isCheck = sqlrewrite.DefaultsAddedRefusal(string(msg)); isCheck {
				s.catalogStale.Store(true) // the same for the default guard
				s.markGuardFailed(head)
			} else if rc, isCheck = sqlrewrite.CollationChangedRefusal(string(msg)); isCheck {
				s.catalogStale.Store(true) // and for the collation guard (collation_guard.go)
				s.markGuardFailed(head)
			} else if rc, isCheck = sqlrewrite.JudgesChangedRefusal(string(msg)); isCheck {
				s.catalogStale.Store(true) // and for the judges guard (judges_guard.go)
				s.markGuardFailed(head)
			}
		}
		if !isCheck {
			rc, isCheck = sqlrewrite.TableElsewhereRefusal(string(msg))
		}
		if !isCheck {
			code, _ := pgwire.ErrorField(body, 'C')
			rc, isCheck = s.qualifiedNameRefused(head, string(code), string(msg)) // catalog_qualified.go
		}
		if !isCheck {
			// A comparison on cells whose operator is not pg_catalog's
			// (sqlrewrite/operator_guard.go): the statement stopped
			// before its first row.
			rc, isCheck = sqlrewrite.ShadowedOperatorRefusal(string(msg))
		}
		if !isCheck {
			// An operator or aggregate a sorted read's WHERE, HAVING or
			// aggregates might call outside pg_catalog
			// (sqlrewrite/planner_shadow.go): the same, before the first row.
			rc, isCheck = sqlrewrite.ShadowedProbeRefusal(string(msg))
		}
		if !isCheck {
			if rc, isCheck = sqlrewrite.NativeChangedRefusal(string(msg)); isCheck {
				// A key sent as its value is not of the catalog's type
				// (sqlrewrite/sort_native.go): read the catalog before
				// the next request, and prepare the statement again.
				s.catalogStale.Store(true)
				s.markGuardFailed(head)
			}
		}
		if !isCheck {
			if rc, isCheck = sqlrewrite.DefaultUncheckedRefusal(string(msg)); isCheck {
				s.catalogStale.Store(true) // the role may insert the column by now
				s.markGuardFailed(head)
			}
		}
		if !isCheck {
			return false, nil
		}
		// A row rule's write check or a column guard failed in the
		// backend: the statement wrote nothing; say why.
		r = refusal{err: rc.PgError(), analysis: head.analysis, rule: rc.Rule}
	}
	s.srv.metrics.Errors.WithLabelValues(r.err.Code.Class(), "phiguard").Inc()
	s.recordRefusal(r, head)
	_, err := s.cw.Write(r.err.Encode())
	return true, err
}

func (s *Session) onReadyForQuery(_ byte, head *expectation) (bool, error) {
	body, err := s.br.Body()
	if err != nil {
		return false, err
	}
	status := byte('I')
	if len(body) == 1 {
		status = body[0]
	}
	s.readyStatus.Store(uint32(status)) // reprepare_unnamed.go
	if s.abortOwed && status != 'T' {
		s.expects.cancelAbort() // before the pop lets the client pump send it
	}
	if head.kind == expSync || head.kind == expQuery {
		if head.publishesDDL {
			s.publishDDL(status) // catalog_epoch.go
		}
		if head.datetimeEpoch > s.datetimeDone.Load() {
			s.datetimeDone.Store(head.datetimeEpoch) // its ParameterStatus came before (datetime_pending.go)
		}
		s.unseenAnswered(head) // settings_unseen.go
		s.expects.pop()
	}
	s.result, s.suppress = nil, false
	if status == 'I' {
		s.transactionEnded()
	}
	// A request phiguard failed inside a transaction block: the client
	// gets the ReadyForQuery of phiguard's abort instead (txabort.go).
	return s.holdReady(status), nil
}

// transactionEnded: portals end with their transaction, and a catalog
// read inside it may have seen DDL it rolled back.
func (s *Session) transactionEnded() {
	clear(s.portals)
	s.cursors.endPortals()
	s.catalogAfterTransaction()
	s.publishDDLAtTransactionEnd() // catalog_epoch.go
}

// onParameterStatus ends the session when the backend reports a setting
// phiguard cannot parse under (settings.go); otherwise it passes.
func (s *Session) onParameterStatus(_ byte, _ *expectation) (bool, error) {
	s.settingReports.Add(1) // plan_reuse_settings.go
	body, err := s.br.Body()
	if err != nil {
		return false, err
	}
	if pe := s.checkReportedSetting(body); pe != nil {
		s.log.Warn("session ended: the backend reports a setting phiguard cannot parse under", zap.String("sqlstate", string(pe.Code)))
		s.cw.Write(pe.Encode())
		s.flushClient()
		return true, errUnsafeSetting
	}
	return false, nil
}

func (s *Session) onParameterDescription(_ byte, head *expectation) (bool, error) {
	kept := head.injected || head.paramsSent // reprepare_unnamed.go: the client has them
	if head.kind == expDescribeStmt && !s.suppress {
		handled, err := s.presentParameterTypes(s.stmts[head.name], kept)
		return handled || kept, err
	}
	return s.suppress || kept, nil
}

func (s *Session) onNoData(_ byte, head *expectation) (bool, error) {
	handled := s.suppress || head.injected
	s.noteRows(head, rowsNone) // reprepare_unnamed.go
	if s.describe(head, nil) {
		s.expects.pop()
	}
	return handled, nil
}

// describe stores what a Describe of a statement or portal answered, and
// reports whether head was that Describe: the caller pops it once done
// with it (a popped expectation is reused, expectQueue.fresh).
func (s *Session) describe(head *expectation, fields []*resultField) bool {
	switch head.kind {
	case expDescribeStmt:
		// phiguard's own Describe (reprepare_types.go) wanted the
		// parameter types only; the statement's result stays as the
		// client's Describes left it.
		if st := s.stmts[head.name]; st != nil && !head.injected {
			st.fields, st.described = fields, true
		}
	case expDescribePortal:
		if p := s.portals[head.name]; p != nil {
			p.fields, p.described = fields, true
		}
	default:
		return false
	}
	return true
}

// onRowDescription learns a result's fields (which are protected, which a
// column rule limits) and presents their original types.
func (s *Session) onRowDescription(_ byte, head *expectation) (bool, error) {
	dropped := s.suppress
	body, err := s.br.Body()
	if err != nil {
		return false, err
	}
	fields, out, err := s.describeFields(body, s.describedStatement(head))
	if err != nil {
		return false, err
	}
	if s.describe(head, fields) {
		defer s.expects.pop() // after the last look at head
		s.noteRows(head, rowsSome)
		if head.injected && head.kind == expDescribeStmt {
			// Only its parameter types were wanted (reprepare_types.go);
			// the client's own Describe or Execute checks the result.
			return true, nil
		}
	} else { // a simple Query's result set
		s.result = fields
		if s.srv.auditor != nil {
			head.read = s.readColumns(fields)
		}
	}
	if pe := fieldsRefusal(fields); pe != nil && !dropped {
		return true, s.failResult(pe)
	}
	if pe := orderPositionsRefusal(fields, s.orderPositionsOf(head)); pe != nil && !dropped {
		return true, s.failResult(pe)
	}
	if head.injected {
		return true, nil // the client did not ask: only phiguard needed it
	}
	if sp := s.sortPlanOf(head); sp != nil && !dropped {
		src := body
		if out != nil {
			src = out[5:] // the message phiguard already rewrote
		}
		if out, err = hideSortColumns(src, sp); err != nil { // protect_sort.go
			return false, err
		}
	}
	if out != nil && !dropped {
		_, err := s.cw.Write(out)
		return true, err
	}
	return dropped, nil
}

// onDataRow decrypts a row's protected fields and applies column rules.
func (s *Session) onDataRow(_ byte, head *expectation) (bool, error) {
	if s.suppress {
		return true, nil
	}
	if head != none {
		head.dataRows++ // for tags without a count (SHOW, ...)
	}
	fields, ok := s.rowFields(head)
	if !ok {
		return true, s.failResult(pgerr.New(pgerr.InternalError, "phiguard cannot tell whether this result holds encrypted columns: Describe the statement or portal before executing it"))
	}
	if head.sort != nil {
		return true, s.holdSorted(head, fields) // protect_sort.go
	}
	if fields == nil {
		if pe := s.strayCellInRow(); pe != nil { // stray_cells.go
			return true, s.failResult(pe)
		}
		return false, nil
	}
	if pe := s.refreshRules(fields); pe != nil {
		return true, s.failResult(pe)
	}
	if head.read == nil && s.srv.auditor != nil {
		head.read = s.readColumns(fields)
	}
	s.noteOutputChanging(head)
	body, err := s.br.Body()
	if err != nil {
		return false, err
	}
	out, pe := s.decryptDataRow(body, fields, head)
	if pe != nil {
		return true, s.failResult(pe)
	}
	if out == nil {
		return false, nil // only subject ids were read: forward as it came
	}
	_, err = s.cw.Write(out)
	return true, err
}

// onCopyData decrypts the rows of a COPY TO STDOUT.
func (s *Session) onCopyData(_ byte, head *expectation) (bool, error) {
	if head.copyOut == nil || s.suppress {
		if s.suppress {
			return true, nil
		}
		if pe := s.strayCellIn("a row of this COPY"); pe != nil { // stray_cells.go
			return true, s.failResult(pe)
		}
		return s.suppress, nil
	}
	body, err := s.br.Body()
	if err != nil {
		return false, err
	}
	var out []byte
	var pe *pgerr.Error
	if r := head.copyOut; r.bin != nil {
		out, pe = r.feedBinary(body, func(i int, v []byte) ([]byte, *pgerr.Error) { return s.decryptBinaryField(r.cols[i], v) })
	} else {
		out, pe = r.rewriteRows(r.split.Feed(body), s.decryptField)
	}
	if pe != nil {
		return true, s.failResult(pe)
	}
	if len(out) == 0 {
		return true, nil
	}
	_, err = s.cw.Write(copyDataMessage(out))
	return true, err
}

func (s *Session) onFunctionCallResponse(_ byte, head *expectation) (bool, error) {
	if !s.suppress {
		if pe := s.strayCellIn("this function call's result"); pe != nil { // stray_cells.go
			err := s.failResult(pe)
			if head.fastpath {
				s.recordStatement(head, nil, string(pe.Code))
			}
			return true, err
		}
	}
	if head.fastpath {
		s.markOutputStale() // set_config, read again behind the call (output.go)
		s.recordStatement(head, nil, string(pgerr.SuccessfulCompletion))
	}
	return s.suppress, nil
}

// onCommandComplete ends a statement (CommandComplete, EmptyQueryResponse
// or PortalSuspended): its record is written, a break-glass SET is
// granted once the backend confirmed it.
func (s *Session) onCommandComplete(typ byte, head *expectation) (bool, error) {
	dropped := s.suppress
	if head.sort != nil && dropped {
		s.portalFailed(head) // failed mid-way (portions.go)
	}
	var sortedTag []byte
	if head.sort != nil && typ == pgwire.BeCommandComplete && !dropped {
		if s.nextRound(head) { // protect_rounds.go: the statement runs again
			return true, nil
		}
		t, err := s.flushSorted(head) // protect_sort.go
		if err != nil {
			return false, err
		}
		sortedTag, dropped = t, true
	}
	if typ == pgwire.BeCommandComplete && (head.kind == expExecute || head.kind == expQuery) {
		s.noteOutputChange(head)
		s.confirmCursors(head, head.completed)
		head.completed++
	}
	if head.kind == expExecute || head.kind == expQuery {
		var tag []byte
		if typ == pgwire.BeCommandComplete {
			tag, _ = s.br.Body()
			if sortedTag != nil {
				tag = sortedTag
			}
			if head.glass != nil && !dropped {
				s.grantBreakGlass(head, tag)
			}
		}
		state := string(pgerr.SuccessfulCompletion)
		if head.failed != "" {
			state, head.failed = string(head.failed), ""
		}
		s.recordStatement(head, tag, state)
	}
	if head.kind == expExecute {
		s.expects.pop()
	}
	s.result = nil
	return dropped, nil
}

// describedStatement is the statement whose RowDescription arrives under
// head: the prepared statement described, the portal's, or the Query's.
func (s *Session) describedStatement(head *expectation) *sqlrewrite.Analysis {
	st, isDescribe := s.describedInfo(head)
	switch {
	case !isDescribe:
		return head.analysis
	case st == nil:
		return nil
	}
	return st.analysis
}

// describedInfo is the prepared statement a Describe under head is about
// (of the statement itself, or of a portal bound to it); isDescribe is
// false when head is no Describe.
func (s *Session) describedInfo(head *expectation) (st *stmtInfo, isDescribe bool) {
	switch head.kind {
	case expDescribeStmt:
		return s.stmts[head.name], true
	case expDescribePortal:
		if p := s.portals[head.name]; p != nil {
			return p.stmt, true
		}
		return nil, true
	}
	return nil, false
}

// rowFields returns how to present the rows now arriving: ok is false when
// they belong to a statement on protected tables that was never described.
func (s *Session) rowFields(head *expectation) ([]*resultField, bool) {
	if head.kind != expExecute {
		return s.result, true
	}
	p := s.portals[head.name]
	if p == nil {
		// A portal phiguard did not see bound: a SQL cursor executed by
		// name. Under a policy its rows may hold cells or columns a rule
		// limits, and no RowDescription says which.
		return nil, s.srv.protect == nil
	}
	fields, known := p.rowFields()
	if !known && p.stmt != nil && ((p.stmt.plan != nil && p.stmt.plan.Protected) || s.restricted() != nil) {
		return nil, false // a role with column rules must know what each field is
	}
	return fields, true
}

// failResult replaces the rest of the current results, up to
// ReadyForQuery, with one error.
func (s *Session) failResult(pe *pgerr.Error) error {
	s.log.Warn("result refused", zap.String("sqlstate", string(pe.Code)))
	s.srv.metrics.Errors.WithLabelValues(string(pe.Code[:2]), "phiguard").Inc()
	if head := s.expects.head(); head != none {
		head.failed = pe.Code // the statement's record says it failed
	}
	s.result, s.suppress = nil, true
	s.abortOwed = true // the transaction must end up aborted, as after PostgreSQL's own error (txabort.go)
	_, err := s.cw.Write(pe.Encode())
	return err
}

// recordRefusal writes the audit record of a statement phiguard refused.
func (s *Session) recordRefusal(r refusal, head *expectation) {
	if s.srv.auditor == nil {
		return
	}
	decision := audit.Deny
	switch r.err.Code {
	case pgerr.KeyUnavailable, pgerr.AuditUnavailable, pgerr.DataCorrupted, pgerr.InternalError:
		decision = audit.Error
	}
	ev := &audit.Refusal{Session: s.auditInfo(), Analysis: r.analysis, Protocol: audit.Extended,
		Decision: decision, Rule: r.err.Message, SQLState: string(r.err.Code)}
	if r.rule != "" {
		ev.Rule = r.rule
	}
	if head.kind == expQuery {
		ev.Protocol, ev.Index = audit.Simple, head.index
		head.index++
	}
	if head.fastpath {
		ev.Protocol = audit.FunctionCall
	}
	s.recordFor(head, ev)
}
