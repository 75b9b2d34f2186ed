package guard

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// record hands an event to the auditor. A record the auditor rejects is
// counted and logged by the auditor itself; the statement it describes has
// already run, so there is nothing left to refuse.
func (s *Session) record(ev audit.Event) {
	if s.srv.auditor == nil {
		return
	}
	if err := s.srv.auditor.Record(ev); err != nil {
		s.log.Warn("audit record rejected", zap.Error(err))
	}
}

func (s *Session) auditSessionInfo() *audit.Session {
	as := &audit.Session{ID: s.id, Client: s.clientAddr, User: s.user, Database: s.database}
	if s.tlsState != nil {
		as.TLSVersion = tlsVersionName(s.tlsState.Version)
		if len(s.tlsState.PeerCertificates) > 0 {
			as.CertSubject = s.tlsState.PeerCertificates[0].Subject.String()
		}
	}
	return as
}

// auditUnavailable returns the refusal for a statement on protected
// tables while the audit trail is down, or nil.
func (s *Session) auditUnavailable(plan *sqlrewrite.Plan) *pgerr.Error {
	if s.srv.auditor == nil || !plan.Protected {
		return nil
	}
	if err := s.srv.auditor.Healthy(); err != nil {
		return auditRefusal()
	}
	return nil
}

// touchesPHI says whether a statement reads or writes protected data: an
// encrypted table, or a table a row or column rule of the session's role
// limits. Such a statement runs only with its audit record assured.
func touchesPHI(plan *sqlrewrite.Plan, decisions string) bool {
	return plan != nil && plan.Protected || decisions != ""
}

// reserveRecords admits a request that touches PHI: it reserves room for
// its n audit records, so that they are accepted when it ends even if the
// audit queue fills meanwhile, or returns the 58030 refusal.
func (s *Session) reserveRecords(x *expectation, n int) *pgerr.Error {
	if s.srv.auditor == nil {
		return nil
	}
	r, err := s.srv.auditor.Reserve(n)
	if err != nil {
		return auditRefusal()
	}
	x.slots = r
	return nil
}

func auditRefusal() *pgerr.Error {
	return pgerr.New(pgerr.AuditUnavailable, "phiguard refuses statements on protected tables while its audit trail cannot record them")
}

// recordFor writes a request's record into the room reserved for it, if
// any.
func (s *Session) recordFor(x *expectation, ev audit.Event) {
	if x.slots.Held() == 0 {
		s.record(ev)
		return
	}
	if err := x.slots.Record(ev); err != nil {
		s.log.Warn("audit record rejected", zap.Error(err))
	}
}

// recordCutOff records the requests a session ended before the backend
// answered them (a backend crash, a shutdown, a client that left): they
// reached the database, and their outcome is unknown. The record says
// outcome "interrupted", with code as its SQLSTATE (57P01 for a shutdown,
// 08006 for a lost connection).
func (s *Session) recordCutOff(code pgerr.Code) {
	for _, x := range s.expects.takeAll() {
		if x.kind == expQuery || x.kind == expExecute {
			x.interrupted = true
			s.recordStatement(x, nil, string(code))
		}
		x.abandon()
	}
}

// recordStatement writes the statement record for the request at the head
// of the queue, when it finishes (CommandComplete and friends, or an
// error).
func (s *Session) recordStatement(x *expectation, tag []byte, sqlstate string) {
	if s.srv.auditor == nil || x == nil || x.analysis == nil {
		return
	}
	ev := &audit.Statement{
		Time: x.start, Session: s.auditInfo(), Analysis: x.analysis, Index: x.index,
		Protocol: audit.Extended, Decision: audit.Allow, Duration: time.Since(x.start),
		Rows: x.dataRows, SQLState: sqlstate, Read: x.read, Written: x.written, Tables: x.tables,
	}
	if n, ok := rowsFromTag(tag); ok {
		ev.Rows = n
	}
	if x.kind == expQuery {
		ev.Protocol = audit.Simple
	}
	if x.fastpath {
		ev.Protocol = audit.FunctionCall
	}
	if x.decision != "" {
		ev.Decision, ev.Rule = x.decision, x.rule
	}
	ev.Subjects = s.subjectSets(x)
	if x.copy {
		ev.Protocol = audit.Copy
	}
	if x.interrupted {
		ev.Outcome = audit.Interrupted
	}
	s.recordFor(x, ev)
	s.statements++
	x.index++
	x.read, x.subjects, x.dataRows = nil, nil, 0
}

// subjectSets lists the subject ids a statement returned, per table, and
// says "not in result" for each table it touched whose subject column its
// result did not carry. It allocates only for tables with a subject
// column, so statements on other tables cost no garbage.
func (s *Session) subjectSets(x *expectation) []*audit.SubjectSet {
	pol := s.policy()
	if pol == nil || x.analysis == nil || x.index >= len(x.analysis.Statements) {
		return nil
	}
	var out []*audit.SubjectSet
	var seenBuf [4]*policy.ProtectedTable
	seen := seenBuf[:0]
	add := func(t *policy.ProtectedTable) {
		if t.SubjectColumn == "" || slices.Contains(seen, t) {
			return
		}
		seen = append(seen, t)
		ss := x.subjects[t]
		if ss == nil {
			ss = audit.NewSubjectSet(t.Name.String(), t.SubjectColumn, s.srv.maxSubjects())
			ss.NotInResult()
		}
		out = append(out, ss)
	}
	for _, tn := range x.analysis.Statements[x.index].Tables {
		if tn.Schema != "" {
			if t, ok := pol.Table(tn.Schema, tn.Name); ok {
				add(t)
			}
			continue
		}
		for _, t := range pol.TablesNamed(tn.Name) {
			add(t)
		}
	}
	return out
}

// maxSubjects bounds the subject ids listed per record.
func (srv *Shared) maxSubjects() int {
	if n := srv.cfg.Audit.MaxSubjectIDs; n > 0 {
		return n
	}
	return 50
}

// subjectID renders a subject column value for the record: text as sent,
// a binary uuid in its usual form, binary integers in decimal.
func subjectID(v []byte, format int16) string {
	if format == 0 {
		return string(v)
	}
	switch len(v) {
	case 16:
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
	case 8:
		return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)
	case 4:
		return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(v))), 10)
	}
	return fmt.Sprintf("%x", v)
}

// rowsFromTag reads the row count at the end of a CommandComplete tag
// ("SELECT 5", "INSERT 0 3", "COPY 300"); false when it has none ("SHOW",
// "CREATE TABLE"), and the record then counts the DataRows it saw.
func rowsFromTag(tag []byte) (int64, bool) {
	tag = bytes.TrimRight(tag, "\x00")
	i := bytes.LastIndexByte(tag, ' ')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(tag[i+1:]), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// columnNames lists protected columns as schema.table.column.
func columnNames(cols []*policy.ProtectedColumn) []string {
	var out []string
	seen := map[*policy.ProtectedColumn]bool{}
	for _, c := range cols {
		if c != nil && !seen[c] {
			seen[c] = true
			out = append(out, c.QualifiedName())
		}
	}
	return out
}

// readColumns lists the protected columns of a result for its audit
// record. A session tends to run the same statements over and over, so
// the last list is kept and handed out again (records only read it) when
// the result has the same protected columns. Backend pump only.
func (s *Session) readColumns(fields []*resultField) []string {
	m := &s.lastRead
	i, same := 0, true
	for _, f := range fields {
		if f == nil || f.col == nil {
			continue
		}
		if i >= len(m.cols) || m.cols[i] != f.col {
			same = false
			break
		}
		i++
	}
	if same && i == len(m.cols) && m.cols != nil {
		return m.names
	}
	m.cols = m.cols[:0:0]
	for _, f := range fields {
		if f != nil && f.col != nil {
			m.cols = append(m.cols, f.col)
		}
	}
	m.names = fieldColumns(fields)
	return m.names
}

// readMemo is the last result's protected columns and their names.
type readMemo struct {
	cols  []*policy.ProtectedColumn
	names []string
}

// fieldColumns lists the protected columns of a result.
func fieldColumns(fields []*resultField) []string {
	var cols []*policy.ProtectedColumn
	for _, f := range fields {
		if f != nil {
			cols = append(cols, f.col)
		}
	}
	return columnNames(cols)
}

// writtenColumns lists the protected columns a plan writes.
func writtenColumns(plan *sqlrewrite.Plan) []string {
	var cols []*policy.ProtectedColumn
	for _, v := range plan.Values {
		if v.Use == sqlrewrite.UseWrite {
			cols = append(cols, v.Column)
		}
	}
	if plan.Copy != nil && plan.Copy.In {
		cols = append(cols, plan.Copy.Table.Columns...)
	}
	return columnNames(cols)
}

func tlsVersionName(v uint16) string {
	switch v {
	case 0x0304:
		return "TLS1.3"
	case 0x0303:
		return "TLS1.2"
	}
	return "TLS"
}
