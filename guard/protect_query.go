package guard

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/internal/pgwire"

	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// A statement phiguard refuses must still be answered in order, inside
// whatever pipeline or transaction the client has going, and with
// PostgreSQL's own consequences (an open transaction is aborted, an
// extended-protocol batch skips to Sync). Rather than imitate all that,
// phiguard sends the backend a statement that cannot run — a lone,
// session-unique identifier, which is a syntax error — and swaps the
// backend's error for its own explanation on the way back. Nothing of the
// refused statement reaches the backend.

type refusal struct {
	marker   string
	err      *pgerr.Error
	analysis *sqlrewrite.Analysis // for the audit record
	rule     string               // the access rule that refused it, if one did
}

type refusalQueue struct {
	n  atomic.Int32
	mu sync.Mutex
	q  []refusal
}

// maxPendingRefusals bounds the queue: a marker the backend never answers
// (it skipped it after an earlier error in the same pipeline) would
// otherwise stay forever.
const maxPendingRefusals = 64

func (q *refusalQueue) push(r refusal) {
	q.mu.Lock()
	if len(q.q) == maxPendingRefusals {
		q.q = append(q.q[:0], q.q[1:]...)
	} else {
		q.n.Add(1)
	}
	q.q = append(q.q, r)
	q.mu.Unlock()
}

// match pops and returns the refusal whose marker the backend error
// message names.
func (q *refusalQueue) match(message []byte) (refusal, bool) {
	if q.n.Load() == 0 {
		return refusal{}, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, r := range q.q {
		if strings.Contains(string(message), r.marker) {
			q.q = append(q.q[:i:i], q.q[i+1:]...)
			q.n.Add(-1)
			return r, true
		}
	}
	return refusal{}, false
}

// markerPrefix begins every refusal marker.
const markerPrefix = "phiguard_refusal_"

func newMarker() string { return randomName(markerPrefix) }

// randomName is prefix and 16 random hex digits, a name no client can
// know beforehand.
func randomName(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}

// protectQuery returns the SQL to send for a simple-protocol Query under
// the policy: the text with literals encrypted, a refusal marker, or nil
// when the text is sent as it is.
func (s *Session) protectQuery(a *sqlrewrite.Analysis, sql []byte) []byte {
	plan := s.planOf(a)                          // catalog_unshadowed.go
	if pe := s.unseenInSegment(sql); pe != nil { // settings_unseen.go
		return s.refuseStatement(pe, a)
	}
	s.segmentUnseen = false                   // the Query's ReadyForQuery comes after the report
	if pe := s.executeRefusal(a); pe != nil { // sql_prepared.go
		return s.refuseStatement(pe, a)
	}
	if pe := s.viewWriteRefusal(a); pe != nil {
		return s.refuseStatement(pe, a)
	}
	if !plan.Protected {
		return nil
	}
	if plan.Refusal != nil {
		return s.refuseStatement(plan.Refusal.PgError(), a)
	}
	if pe := s.auditUnavailable(plan); pe != nil {
		return s.refuseStatement(pe, a)
	}
	if pe := s.planCatalogRefusal(plan); pe != nil {
		return s.refuseStatement(pe, a)
	}
	if pe := sameMessageDDLRefusal(a, plan); pe != nil { // catalog_unshadowed.go
		return s.refuseStatement(pe, a)
	}
	if len(plan.Values) == 0 && len(plan.Cuts) == 0 && plan.Sort == nil && len(plan.Operators) == 0 {
		return nil
	}
	out, pe := s.encryptLiterals(sql, plan, nil)
	if pe == nil && plan.Sort != nil {
		out, pe = s.querySortedText(out, plan.Sort, s.queryTerms(sql, plan.Sort), plan.Operators) // protect_rounds.go, protect_search.go
	}
	if pe == nil {
		pe = scanCheckRefusal(a, plan, out) // scan_check.go
	}
	if pe != nil {
		return s.refuseStatement(pe, a)
	}
	return out
}

// encryptLiterals returns sql with the plan's literals replaced by cells.
// A literal the plan widened (a constant with a cast or a sign) is
// replaced together with its cast and sign. Each comparison the database
// evaluates on cells gets its operator's check (sqlrewrite/operator_guard.go);
// declared gives the types a Parse declared for its parameters (nil for
// a Query).
func (s *Session) encryptLiterals(sql []byte, plan *sqlrewrite.Plan, declared func(int) uint32) ([]byte, *pgerr.Error) {
	if len(plan.Cuts) == 0 && !slices.ContainsFunc(plan.Values, func(v sqlrewrite.ValueSlot) bool { return v.Literal >= 0 }) &&
		!sqlrewrite.GuardsNeedSpans(plan.TextGuards()) {
		// Nothing to seal or cut (the constants are parameters, sealed at
		// Bind): the text as it is, without finding its literals, which
		// runs pg_query's scanner (cgo) and was ~30 µs of every Parse of a
		// sorted read such as bench/search's one-patient query.
		return guardOperators(sql, nil, plan, declared)
	}
	spans := sqlrewrite.LiteralSpans(sql)
	cells := make(map[int]string, len(plan.Values)) // literal index -> SQL text that replaces it
	regions := make(map[int][2]int, len(plan.Values))
	for _, v := range plan.Values {
		if v.Literal < 0 {
			continue // parameters are encrypted at Bind
		}
		sp, plain, pe := foldedLiteral(sql, spans, v)
		if pe == nil {
			plain, pe = s.readAs(v, plain)
		}
		if v.Explicit {
			plain = explicitCast(v.Column, plain)
		}
		if pe != nil {
			return nil, pe
		}
		regions[v.Literal] = sp
		lit := spans[v.Literal]
		plain, none, pe := numberLiteral(v, sql[lit[0]:lit[1]], plain)
		if pe != nil {
			return nil, pe
		}
		if none || v.Use == sqlrewrite.UseCompare && matchesNothing(v.Column, plain) {
			// No cell is this: equal to no value, unequal to all.
			cells[v.Literal] = "'" + noMatchCell + "'"
			continue
		}
		if text, ok, pe := s.compareLiteral(sql, sp, v, plain); pe != nil {
			return nil, pe
		} else if ok {
			cells[v.Literal] = text
			continue
		}
		var subject []byte
		if v.Subject != nil && v.Subject.Literal < 0 {
			// The value is in the text but its subject arrives only at Bind.
			return nil, pgerr.Newf(pgerr.FeatureNotSupported,
				"column %s is sealed per subject and its row's subject %s is a parameter: pass the value as a parameter too",
				v.Column.QualifiedName(), v.Column.Table.SubjectQualifiedName())
		}
		if v.Subject != nil {
			var pe *pgerr.Error
			if subject, pe = literalSubject(sql, spans, v.Subject, v.Column); pe != nil {
				return nil, pe
			}
		}
		cell, pe := s.encryptValue(v.Column, 0, plain, subject)
		if pe != nil {
			return nil, pe
		}
		cells[v.Literal] = "'" + string(cell) + "'"
	}
	edits := make([]sqlrewrite.Edit, 0, len(cells)+len(plan.Cuts))
	for i, cell := range cells {
		edits = append(edits, sqlrewrite.Edit{Span: regions[i], Text: cell})
	}
	edits, pe := cutsAndChecks(edits, sql, spans, plan, declared)
	if pe != nil {
		return nil, pe
	}
	out, ok := sqlrewrite.Splice(sql, edits)
	if !ok {
		return nil, internalRefusal(firstColumn(plan), "overlapping constants")
	}
	return out, nil
}

// cutsAndChecks appends to edits the plan's cuts and its operators'
// checks, placed in sql whose literals are at spans.
func cutsAndChecks(edits []sqlrewrite.Edit, sql []byte, spans [][2]int, plan *sqlrewrite.Plan, declared func(int) uint32) ([]sqlrewrite.Edit, *pgerr.Error) {
	for _, c := range plan.Cuts {
		sp, ok := c.Span(sql, spans)
		if !ok {
			return nil, internalRefusal(firstColumn(plan), "a cut disagrees with the text")
		}
		edits = append(edits, sqlrewrite.Edit{Span: sp, Text: c.Text, Last: c.Last})
	}
	checks, ok := sqlrewrite.OperatorEdits(sql, spans, plan.TextGuards(), declared)
	if !ok {
		return nil, internalRefusal(firstColumn(plan), "a comparison's place disagrees with the text")
	}
	return append(edits, checks...), nil
}

// guardOperators adds the operators' checks alone, to a text with no
// literal to seal (spans nil: no check is placed after one).
func guardOperators(sql []byte, spans [][2]int, plan *sqlrewrite.Plan, declared func(int) uint32) ([]byte, *pgerr.Error) {
	if len(plan.TextGuards()) == 0 {
		return sql, nil
	}
	checks, ok := sqlrewrite.OperatorEdits(sql, spans, plan.TextGuards(), declared)
	if !ok {
		return nil, internalRefusal(plan.Operators[0].Column, "a comparison's place disagrees with the text")
	}
	out, ok := sqlrewrite.Splice(sql, checks)
	if !ok {
		return nil, internalRefusal(plan.Operators[0].Column, "overlapping comparisons")
	}
	return out, nil
}

// firstColumn names a column of the plan for an internal refusal.
func firstColumn(plan *sqlrewrite.Plan) *policy.ProtectedColumn {
	if len(plan.Values) > 0 {
		return plan.Values[0].Column
	}
	return nil
}

// explicitCast is what an explicit cast to a varchar(n) or char(n) column's
// type makes of a string: its first n characters (an assignment would
// refuse a longer one, 22001). Other types are unchanged.
func explicitCast(col *policy.ProtectedColumn, v []byte) []byte {
	if col.Type.OID != policy.OIDVarchar && col.Type.OID != policy.OIDBpchar || col.Type.Modifier < 4 {
		return v
	}
	n := int(col.Type.Modifier - 4)
	for i := range string(v) {
		if n == 0 {
			return v[:i]
		}
		n--
	}
	return v
}

// foldedLiteral is where a planned literal's value stands in sql — the
// literal, widened by the plan to its cast and sign — and its plaintext.
func foldedLiteral(sql []byte, spans [][2]int, v sqlrewrite.ValueSlot) ([2]int, []byte, *pgerr.Error) {
	if v.Array != nil {
		return arrayLiteral(sql, spans, v)
	}
	if v.Literal >= len(spans) {
		return [2]int{}, nil, internalRefusal(v.Column, "literal positions disagree")
	}
	sp, ok := v.Region(sql, spans)
	if !ok {
		return [2]int{}, nil, internalRefusal(v.Column, "a folded constant's extent disagrees with the text")
	}
	lit := spans[v.Literal]
	plain, ok := sqlrewrite.LiteralValue(sql[lit[0]:lit[1]])
	if !ok {
		return [2]int{}, nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"column %s is encrypted: write its values as '...' literals, numbers or parameters", v.Column.QualifiedName())
	}
	if v.Negative {
		if len(plain) > 0 && (plain[0] == '-' || plain[0] == '+') {
			return [2]int{}, nil, pgerr.Newf(pgerr.FeatureNotSupported,
				"column %s is encrypted: a sign applied to a signed string is computed by SQL", v.Column.QualifiedName())
		}
		plain = append([]byte{'-'}, plain...)
	}
	if v.IntBits > 0 {
		if pe := checkIntCast(plain, v); pe != nil {
			return [2]int{}, nil, pe
		}
	}
	return sp, plain, nil
}

// readAs reads a constant cast to another type than its column's
// ('2024-11-03 01:30'::timestamp into a timestamptz column) as that type
// first, as PostgreSQL evaluates the cast: its canonical text is then read
// as the column's type, which is what the assignment cast computes
// (sqlrewrite's castReadAs lists the pairs where that holds).
func (s *Session) readAs(v sqlrewrite.ValueSlot, plain []byte) ([]byte, *pgerr.Error) {
	t, ok := v.ReadAsType()
	if !ok {
		return plain, nil
	}
	as := *v.Column
	as.Type = t
	canon, err := s.canonicalValue(&as, 0, plain)
	if err != nil {
		// PostgreSQL's error for the cast: 22003 for '40000'::int2.
		return nil, valueError(&as, err)
	}
	return canon, nil
}

// checkIntCast makes the checks PostgreSQL makes of a constant cast to an
// integer type and assigned to an integer column (planner_fold.go): an
// integer (int2in/int4in/int8in: blanks around an optional sign and
// decimal digits, as strconv reads them once trimmed), in range of the
// cast's width and of an integer column's. The error names no value.
func checkIntCast(plain []byte, v sqlrewrite.ValueSlot) *pgerr.Error {
	text := strings.Trim(string(plain), " \t\n\r\v\f")
	n, err := strconv.ParseInt(text, 10, v.IntBits)
	if errors.Is(err, strconv.ErrRange) {
		return pgerr.Newf(pgerr.NumericValueOutOfRange, "a value for column %s is out of range for a %d-bit integer", v.Column.QualifiedName(), v.IntBits)
	}
	if err != nil {
		return pgerr.Newf(pgerr.InvalidTextRepresentation, "a value for column %s is not an integer", v.Column.QualifiedName())
	}
	bits := map[uint32]int{policy.OIDInt2: 16, policy.OIDInt4: 32}[v.Column.Type.OID]
	if bits > 0 && (n < -1<<(bits-1) || n >= 1<<(bits-1)) {
		return pgerr.Newf(pgerr.NumericValueOutOfRange, "a value for column %s is out of range for its type %s", v.Column.QualifiedName(), v.Column.Type.Name)
	}
	return nil
}

// encryptValue canonicalizes and encrypts one plaintext for a column;
// subject is the row's subject id for a column sealed per subject. A
// column with `search` gets a cell carrying its search terms.
func (s *Session) encryptValue(col *policy.ProtectedColumn, format int16, plain, subject []byte) ([]byte, *pgerr.Error) {
	canon, err := s.canonical(col, format, plain, cellcipher.CanonicalShared) // sealed before plain changes
	if err != nil {
		return nil, valueError(col, err)
	}
	var ctx context.Context = context.Background()
	if col.PerSubject() {
		lt := newLazyTimeout(subjectKeyTimeout)
		defer lt.stop()
		ctx = lt
	}
	if col.Search != 0 {
		return s.sealWithTerms(ctx, col, canon, subject) // protect_terms.go
	}
	cell, err := s.srv.protect.cipher().Seal(ctx, col, canon, subject)
	if err != nil {
		return nil, s.sealError(col, err)
	}
	return cell, nil
}

// keyError maps a keyring failure to the client's error: a missing or
// unreachable key is 58000, never a plaintext write.
func keyError(col *policy.ProtectedColumn, err error) *pgerr.Error {
	code := pgerr.KeyUnavailable
	msg := fmt.Sprintf("the key %q for column %s is not available", col.Key, col.QualifiedName())
	var we *keys.WithdrawnError
	if errors.As(err, &we) {
		msg = fmt.Sprintf("the key %q for column %s is withdrawn: %s", we.KeyID, col.QualifiedName(), withdrawalCause(we))
	}
	if errors.Is(err, keys.ErrIntegrity) {
		code = pgerr.DataCorrupted
		msg = fmt.Sprintf("a cell of column %s failed its integrity check", col.QualifiedName())
	}
	return pgerr.New(code, msg)
}

// withdrawalCause is what a client is told of why the keys were
// withdrawn: whether the key service refused them or stopped answering.
// The service's own answer (its address, paths and status) is in
// phiguard's log, where keys/keywatch wrote it; clients of the database
// need not learn where the key service is.
func withdrawalCause(we *keys.WithdrawnError) string {
	if keys.Definite(we.Reason) {
		return "the key service refused phiguard's access to it (phiguard's log has the details)"
	}
	return "the key service has not answered for longer than phiguard's offline grace (phiguard's log has the details)"
}

func internalRefusal(col *policy.ProtectedColumn, why string) *pgerr.Error {
	if col == nil {
		return pgerr.Newf(pgerr.InternalError, "phiguard could not rewrite a statement on encrypted columns (%s)", why)
	}
	return pgerr.Newf(pgerr.InternalError, "phiguard could not rewrite a statement on encrypted column %s (%s)", col.QualifiedName(), why)
}

// refuseStatement queues a refusal and returns the marker text to send.
func (s *Session) refuseStatement(pe *pgerr.Error, a *sqlrewrite.Analysis) []byte {
	m := newMarker()
	s.refusals.push(refusal{marker: m, err: pe, analysis: a})
	s.log.Info("statement refused", sqlstateField(pe))
	return []byte(m)
}

// canonicalValue is the plaintext phiguard encrypts for a value: the text
// PostgreSQL itself would print for it, whatever spelling or format (text
// or binary) the client used, so that equal values give equal
// deterministic cells; read under the session's DateStyle and TimeZone (datetime.go).
func (s *Session) canonicalValue(col *policy.ProtectedColumn, format int16, v []byte) ([]byte, error) {
	return s.canonical(col, format, v, cellcipher.CanonicalIn)
}

// canonical is canonicalValue through a converter function: CanonicalIn
// gives a value of its own, CanonicalShared may give v.
func (s *Session) canonical(col *policy.ProtectedColumn, format int16, v []byte,
	canonicalize func(pgvalue.Converter, *policy.ProtectedColumn, int16, []byte) ([]byte, error)) ([]byte, error) {
	conv, err := s.converterFor(col)
	if err != nil {
		return nil, err
	}
	if err := s.datetimeUnsettled(col, format); err != nil && !settingsFree(conv, col, format, v, canonicalize) {
		return nil, err // datetime_free.go
	}
	return canonicalize(conv, col, format, v)
}

func sqlstateField(pe *pgerr.Error) zap.Field { return zap.String("sqlstate", string(pe.Code)) }

// parseMessage builds a Parse message with no parameter types.
func parseMessage(name, sql []byte) []byte {
	msg := make([]byte, 5, 5+len(name)+len(sql)+4)
	msg[0] = pgwire.FeParse
	msg = append(msg, name...)
	msg = append(msg, 0)
	msg = append(msg, sql...)
	msg = append(msg, 0, 0, 0)
	binary.BigEndian.PutUint32(msg[1:5], uint32(len(msg)-1))
	return msg
}

// planCatalogRefusal is what the session's catalog says against a plan:
// a DEFAULT that would be stored in clear (checkDefaults), and the names
// the plan leaves to the catalog (namesRefusal).
func (s *Session) planCatalogRefusal(plan *sqlrewrite.Plan) *pgerr.Error {
	if pe := s.checkDefaults(plan); pe != nil {
		return pe
	}
	return s.namesRefusal(plan)
}

// checkDefaults refuses DEFAULT for a protected column that has a default
// expression: its value would be stored unencrypted.
func (s *Session) checkDefaults(plan *sqlrewrite.Plan) *pgerr.Error {
	for _, col := range plan.Defaults {
		if s.catalog.Load().hasDefault(col) {
			// Another session may drop the default, and plain PostgreSQL
			// would then run the statement: read the catalog again
			// before the next request rather than refuse it (a named
			// statement prepared again, reprepare.go) until this
			// session's own DDL.
			s.catalogStale.Store(true)
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"column %s is encrypted and has a default value, which would be stored unencrypted: give a value or NULL instead of DEFAULT", col.QualifiedName())
		}
	}
	return nil
}

// guardDefaults adds the default guard (sqlrewrite.GuardNoDefaults) to a
// statement that leaves encrypted columns to their defaults, which
// checkDefaults allowed by the catalog: in the database it fails unless
// they still have none. replaced is the text to send (nil: sql, as the
// client sent it); the result is the text to send, nil still meaning sql.
// A COPY ... FROM STDIN whose column list leaves encrypted columns out
// gets them added to the list instead, and a NULL field for each in every
// row (startCopy). An INSERT ... SELECT or DEFAULT VALUES gets the
// columns it leaves out written in with NULL, the first carrying the
// guard, where its shape allows; shapes the guard cannot be put in (a set
// operation, several statements in one Query) go as they are, checked by
// the catalog alone; an INSERT ... VALUES, UPDATE or COPY
// whose text it cannot place the guard in is refused (fail closed).
//
// An encrypted column the role may not insert is left to its default and
// checked in the statement (sqlrewrite/guard_slot.go); params gives the
// types a Parse declared (nil: no parameters).
func (s *Session) guardDefaults(replaced, sql []byte, plan *sqlrewrite.Plan, params func(int) uint32) ([]byte, *pgerr.Error) {
	if plan == nil || plan.Refusal != nil || len(plan.Defaults) == 0 {
		return replaced, nil
	}
	src := replaced
	if src == nil {
		src = sql
	}
	cat := s.catalog.Load()
	guarded, ok := sqlrewrite.GuardNoDefaults(string(src), s.policy(), plan.Defaults, cat.orders(params))
	switch {
	case ok:
		return []byte(guarded), nil
	case guarded == "" && cat.uninsertable(plan.Defaults) != nil:
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"this statement leaves out encrypted column %s, which the role may not insert, so it takes its default; phiguard checks that it has none in the value of another column, and this statement has none it can use (an encrypted column, NULL, a quoted literal or a parameter without a type, for a column whose type is not a domain): nothing was written; give the statement such a value, or grant the role INSERT on the column",
			cat.uninsertable(plan.Defaults).QualifiedName())
	case guarded == "":
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"phiguard cannot check that the encrypted columns this statement leaves to their defaults (%s) still have none: give them values or NULL, or write VALUES without parentheses around it",
			plan.Defaults[0].QualifiedName())
	}
	return replaced, nil
}

// guardFilledList adds the column guard to a statement whose column list
// fillColumnList wrote (sqlrewrite.GuardColumnOrder): in the database it
// fails unless the table still has the columns the list came from. A
// statement that needs the guard and cannot have it is refused.
//
// cat must be the catalog the list was filled from: the backend pump may
// have stored a newer one since, and the guard must check the columns the
// list names.
func (s *Session) guardFilledList(sql []byte, a *sqlrewrite.Analysis, cat *catalog, params func(int) uint32) []byte {
	guarded, ok := sqlrewrite.GuardColumnOrder(string(sql), s.policy(), cat.orders(params))
	if !ok {
		return s.refuseStatement(pgerr.New(pgerr.FeatureNotSupported,
			"phiguard cannot check that this statement's table still has the columns it read for its missing column list: give the statement a column list"), a)
	}
	return []byte(guarded)
}

// fillColumnList gives an INSERT or COPY without a column list on a table
// with encrypted columns the list PostgreSQL would use, from the catalog
// (sqlrewrite.WithColumnList, WithCopyColumnList), and returns the new
// text, its analysis and the catalog it came from (for guardFilledList);
// from is nil when there is nothing to fill.
func (s *Session) fillColumnList(a *sqlrewrite.Analysis, sql []byte) (_ []byte, _ *sqlrewrite.Analysis, from *catalog) {
	pol := s.policy()
	if pol == nil || a == nil || len(a.Statements) != 1 {
		return nil, nil, nil
	}
	cat := s.catalog.Load()
	if cat == nil {
		return nil, nil, nil
	}
	text, table, ok := fillFrom(cat, pol, a.Statements[0].Kind, sql)
	if !ok {
		return nil, nil, nil
	}
	if fresh := s.checkColumnsBeforeFill(cat, table); fresh != cat {
		// The columns changed: fill from the catalog read just now.
		if cat = fresh; cat == nil {
			return nil, nil, nil
		}
		if text, _, ok = fillFrom(cat, pol, a.Statements[0].Kind, sql); !ok {
			return nil, nil, nil
		}
	}
	filled, _ := s.srv.analyzer.Analyze([]byte(text))
	return []byte(text), filled, cat
}

// fillFrom writes a column list into sql from cat, and names the table.
func fillFrom(cat *catalog, pol *policy.Policy, kind sqlrewrite.Kind, sql []byte) (string, policy.TableName, bool) {
	var table policy.TableName
	columns := func(names func(policy.TableName) []string) func(policy.TableName) []string {
		return func(t policy.TableName) []string { table = t; return names(t) }
	}
	var text string
	var ok bool
	switch kind {
	case sqlrewrite.KindInsert:
		text, ok = sqlrewrite.WithColumnList(string(sql), pol, columns(cat.columnNames))
	case sqlrewrite.KindCopy:
		text, ok = sqlrewrite.WithCopyColumnList(string(sql), pol, columns(cat.copyColumnNames))
	}
	return text, table, ok
}
