package guard

import (
	"strings"
	"sync/atomic"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// Access control, the proxy's side (the rules themselves are applied by
// sqlrewrite.AccessFor). A session runs under one policy and one role at a
// time: both are bound when authentication succeeds and re-bound at the
// first statement after a reload. A role with no rule (or a policy without
// roles) costs nothing: no catalog read, no rewrite, no result change.
// A role with rules gets, per statement, the rewriter's verdict (refused,
// or the text with its row rules injected), and, per result, its column
// rules applied to each field that comes from a table column.

// accessState is the session's access-control state. The client pump
// writes it; the backend pump reads it, hence the atomics.
type accessState struct {
	pol        atomic.Pointer[policy.Policy] // the policy the session runs under
	role       atomic.Pointer[policy.Role]   // nil without roles
	objs       atomic.Pointer[Objects]       // read only for a role with rules
	breakGlass atomic.Bool                   // the role's row rules are lifted
	tables     string                        // fingerprint of pol's protected columns (client pump)
}

// restricted returns the session's role when it has rules, else nil.
func (s *Session) restricted() *policy.Role {
	r := s.acc.role.Load()
	if r == nil || r.Unrestricted() {
		return nil
	}
	return r
}

// certSubject is the client certificate's subject, "" without one.
func (s *Session) certSubject() string {
	if s.tlsState != nil && len(s.tlsState.PeerCertificates) > 0 {
		return s.tlsState.PeerCertificates[0].Subject.String()
	}
	return ""
}

// bindPolicy makes the session run under the policy in force, binding its
// role. It reports whether the session's role now has rules but no
// catalog of objects yet. Called by the client pump (and once at start,
// before the pumps run).
func (s *Session) bindPolicy() (needObjects bool) {
	if s.srv.protect == nil {
		return false
	}
	cur := s.srv.protect.Current()
	old := s.acc.pol.Load()
	if cur == old {
		return false
	}
	s.acc.pol.Store(cur)
	if old != nil {
		s.noteOutputPolicy()
	}
	role := cur.RoleFor(s.user, s.certSubject())
	prevRole := s.acc.role.Swap(role)
	if fp := tablesFingerprint(cur); old != nil && fp != s.acc.tables {
		// Re-read where the protected columns are: before the next request
		// is planned where the pump can wait for it (catalog_fresh.go),
		// else after this request.
		s.ddlSeen = true
		s.catalogStale.Store(true)
		s.reloadUnread = true
		s.acc.tables = fp
	} else {
		s.acc.tables = fp
	}
	name := roleName(role)
	if old == nil || roleName(prevRole) != name {
		if as := s.auditInfo(); as != nil {
			c := *as
			c.Role = name
			s.audit.Store(&c)
		}
		if old != nil {
			s.log.Info("role re-bound after policy reload", zap.String("role", name), zap.String("policy_version", short(cur.Version())))
		}
	}
	if old != nil && prevRole != role {
		s.acc.breakGlass.Store(false) // granted to the old role, not the new one
	}
	return s.restricted() != nil && s.acc.objs.Load() == nil
}

func roleName(r *policy.Role) string {
	if r == nil {
		return ""
	}
	return r.Name
}

func short(v string) string { return v[:min(len(v), 12)] }

// tablesFingerprint names every protected column with its key and mode,
// so a reload that changes none of them keeps the session's catalog.
func tablesFingerprint(p *policy.Policy) string {
	var b strings.Builder
	for _, t := range p.Tables() {
		for _, c := range t.Columns {
			b.WriteString(c.QualifiedName())
			b.WriteByte(0)
			b.WriteString(c.Key)
			b.WriteByte(0)
			b.WriteString(string(c.Mode))
			b.WriteByte(0)
			b.WriteString(string(c.State))
			b.WriteByte(0)
		}
		b.WriteString(t.SubjectColumn)
		b.WriteByte(1)
	}
	return b.String()
}

// auditInfo is the session as audit records name it.
func (s *Session) auditInfo() *audit.Session {
	if as := s.audit.Load(); as != nil {
		return as
	}
	as := s.auditSessionInfo()
	as.Role = roleName(s.acc.role.Load())
	if s.audit.CompareAndSwap(nil, as) {
		return as
	}
	return s.audit.Load()
}

// accessVerdict is what the role's rules make of a statement text.
type accessVerdict struct {
	sql      []byte                 // the text to plan and send (the input when unchanged)
	analysis *sqlrewrite.Analysis   // its analysis
	access   *sqlrewrite.Access     // nil for an unrestricted role
	refusal  *pgerr.Error           // set when the text must not run
	decision audit.Decision         // for the statement's audit record
	rule     string                 // the rules that applied, for the audit record
	glass    *sqlrewrite.BreakGlass // a permitted break-glass request
}

// checkAccess applies the session's role to one statement text.
func (s *Session) checkAccess(sql []byte, a *sqlrewrite.Analysis) accessVerdict {
	v := accessVerdict{sql: sql, analysis: a, decision: audit.Allow}
	role := s.restricted()
	if role == nil || a == nil {
		return v
	}
	glass := s.acc.breakGlass.Load()
	var acc *sqlrewrite.Access
	if f := s.srv.accessFor; f != nil {
		acc = f(string(sql), a, s.policy(), role, s.acc.objs.Load(), glass)
	} else {
		acc = s.srv.accessCache.For(string(sql), a, s.policy(), role, s.acc.objs.Load(), glass)
	}
	v.access = acc
	v.rule = decisionRules(acc)
	if glass && len(role.RowRules()) > 0 {
		v.decision = audit.AllowBreakGlass
	}
	if r := acc.Refusal; r != nil {
		v.refusal = r.PgError()
		v.decision, v.rule = audit.Deny, r.Rule
		return v
	}
	v.glass = acc.BreakGlass
	if acc.Changed {
		v.sql = []byte(acc.SQL)
		v.analysis, _ = s.srv.analyzer.AnalyzeWith(v.sql, acc.Analysis())
	}
	return v
}

// decisionRules names the rules an Access applied, once each.
func decisionRules(acc *sqlrewrite.Access) string {
	var names []string
	for _, d := range acc.Decisions {
		if d.Rule != "" && !containsString(names, d.Rule) {
			names = append(names, d.Rule)
		}
	}
	return strings.Join(names, "; ")
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// refuseAccess queues an access refusal and returns its marker text.
func (s *Session) refuseAccess(v accessVerdict, a *sqlrewrite.Analysis) []byte {
	s.recordBreakGlassRefused(v, v.sql)
	m := newMarker()
	s.refusals.push(refusal{marker: m, err: v.refusal, analysis: a, rule: v.rule})
	s.log.Info("statement refused by access rule", sqlstateField(v.refusal),
		zap.String("role", roleName(s.acc.role.Load())), zap.String("rule", v.rule))
	return []byte(m)
}

// objectsMessage is the read of the session's Objects, under the
// catalog's search path (catalog_path.go): its text names aggregates and
// types unqualified.
func objectsMessage() []byte { return ownMessages(underCatalogPath(objectsQuery)) }

// loadObjects reads the Objects on the backend connection before the
// client's first ReadyForQuery, like loadCatalog.
func (s *Session) loadObjects() error {
	if cached := s.srv.cachedObjects(s.database); cached != nil {
		stamp, err := s.readStamp()
		if err != nil {
			return err
		}
		if stamp == cached.stamp {
			s.acc.objs.Store(cached)
			return nil
		}
	}
	b := NewObjectsBuilder()
	if err := s.ownQuery(objectsMessage(), b.add); err != nil {
		return err
	}
	if b.failure != "" {
		return pgwire.Violation("reading the catalog of database objects: " + b.failure)
	}
	s.acc.objs.Store(s.srv.sharedObjects(s.database, b.Objects()))
	return nil
}

// readStamp reads the catalog stamp on the backend connection.
func (s *Session) readStamp() (string, error) {
	var stamp, failure string
	err := s.ownQuery(ownMessages(underCatalogPath(stampQuery)), func(typ byte, body []byte) error {
		switch typ {
		case pgwire.BeDataRow:
			var row pgproto3.DataRow
			if err := row.Decode(body); err != nil || len(row.Values) != 1 {
				return pgwire.Violation("malformed catalog stamp from backend")
			}
			stamp = string(row.Values[0])
		case pgwire.BeErrorResponse:
			msg, _ := pgwire.ErrorField(body, 'M')
			failure = string(msg)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if failure != "" {
		return "", pgwire.Violation("reading the catalog stamp: " + failure)
	}
	return stamp, nil
}

// cachedObjects is the latest Objects read for a database, or nil.
func (srv *Shared) cachedObjects(database string) *Objects {
	srv.objMu.Lock()
	defer srv.objMu.Unlock()
	return srv.objects[database]
}

// queueObjects asks for the Objects behind the request just forwarded (a
// Query or a Sync): after DDL, or when a reload gave the session a role
// with rules. Statements in between run with what the session had (or
// with none, which the rewriter refuses).
func (s *Session) queueObjects() error {
	s.expects.push(&expectation{kind: expObjects, objects: NewObjectsBuilder()})
	_, err := s.bw.Write(objectsMessage())
	return err
}

// objectsAnswer consumes one message of phiguard's own objects read.
func (s *Session) objectsAnswer(head *expectation, typ byte) error {
	body, err := s.br.Body()
	if err != nil {
		return err
	}
	if err := head.objects.add(typ, body); err != nil {
		return err
	}
	if typ == pgwire.BeReadyForQuery {
		s.expects.pop()
		if head.objects.failure != "" {
			s.log.Info("database objects not re-read", zap.String("reason", head.objects.failure))
			return nil
		}
		s.acc.objs.Store(s.srv.sharedObjects(s.database, head.objects.Objects()))
	}
	return nil
}

// sharedObjects returns the Objects already held for the database when
// they are the same as o, so sessions of one database share one copy.
func (srv *Shared) sharedObjects(database string, o *Objects) *Objects {
	srv.objMu.Lock()
	defer srv.objMu.Unlock()
	if prev := srv.objects[database]; prev != nil && prev.version == o.version {
		return prev
	}
	if srv.objects == nil {
		srv.objects = map[string]*Objects{}
	}
	srv.objects[database] = o
	return o
}
