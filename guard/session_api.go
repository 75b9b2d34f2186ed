package guard

import (
	"bufio"
	"crypto/tls"
	"errors"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// This file is the guard's side of the wire: what package proxy calls, in
// the order of a session's life. The pumps' two calls are ClientMessage
// and BackendMessage; the rest are the steps around them (login, the
// waits the client pump makes between messages, the end).

// NewSession starts the guard of a session whose login names user and
// database, from the client at clientAddr (tls nil when plaintext).
func NewSession(srv *Shared, id string, log *zap.Logger, user, database, clientAddr string, tls *tls.ConnectionState) *Session {
	return &Session{srv: srv, id: id, log: log, user: user, database: database, clientAddr: clientAddr, tlsState: tls,
		ddlEpoch: srv.ddl.of(database)}
}

// CheckStartupSettings refuses a StartupMessage's settings under which
// phiguard would parse another statement than PostgreSQL runs, or that
// the session's role may not choose (settings.go).
func (s *Session) CheckStartupSettings(params map[string]string) *pgerr.Error {
	return s.checkStartupSettings(params)
}

// Connect gives the guard the session's two directions, once
// authentication is under way: it reads and writes them only from inside
// the calls the wire makes from the pump that owns each (Session's field
// comments say which).
func (s *Session) Connect(cr, br *pgwire.MsgReader, cw, bw *bufio.Writer, wire Wire) {
	s.cr, s.br, s.cw, s.bw, s.wire = cr, br, cw, bw, wire
}

// CheckReportedSetting refuses a ParameterStatus during startup (a role
// or database default) that phiguard cannot parse under.
func (s *Session) CheckReportedSetting(body []byte) *pgerr.Error {
	return s.checkReportedSetting(body)
}

// FirstReady ends authentication under a policy: it binds the session's
// role, reads where the protected columns are in this database (and, for
// a role with rules, its objects) on the backend connection, and only
// then sends the client its first ReadyForQuery, with status.
func (s *Session) FirstReady(status byte) error {
	s.bindPolicy()
	if r := s.acc.role.Load(); r != nil {
		s.log = s.log.With(zap.String("role", r.Name))
	}
	if err := s.loadCatalog(); err != nil {
		return err
	}
	if err := s.loadOutputSettings(); err != nil {
		return err
	}
	if s.restricted() != nil {
		// Only a role with rules pays for reading the objects the access
		// rewriter needs.
		start := time.Now()
		if err := s.loadObjects(); err != nil {
			return err
		}
		s.log.Debug("database objects read", zap.Duration("took", time.Since(start)))
	}
	s.cw.Write(readyForQuery(status))
	return s.flushClient()
}

// Log is the session's logger, with its role once FirstReady bound one.
func (s *Session) Log() *zap.Logger { return s.log }

// Start begins the pumps' part: with a policy or an audit trail the guard
// follows each request to its answer (Tracking). backendDone is closed
// when the backend pump ends.
func (s *Session) Start(backendDone <-chan struct{}) {
	s.backendDone = backendDone
	s.unseenSettled = make(chan struct{}, 1)
	s.tracking = s.srv.Tracks()
	if s.tracking {
		s.clientStmts = map[string]*stmtInfo{}
		s.stmts = map[string]*stmtInfo{}
		s.portals = map[string]*portalInfo{}
		s.clientPortals = map[string]*stmtInfo{}
		s.portalFilters = map[string][]filterArgs{}
		s.describedPortals = map[string]bool{}
	}
}

// Tracking reports whether the pumps consult the guard for each message.
func (s *Session) Tracking() bool { return s.tracking }

// ClientMessage is the guard's verdict on the client message the client
// pump holds: nil to forward it as it is, else the bytes to send instead.
// An error ends the session. Every Query and Parse is analysed here, with
// or without tracking (analyze), inside the parse gate (parsegate.go),
// after the answers to requests that may have changed settings phiguard
// has not seen yet (settings_unseen.go).
func (s *Session) ClientMessage(typ byte) ([]byte, error) {
	var a *sqlrewrite.Analysis
	var gated int64 // held from the parse gate until the statement is planned
	if typ == pgwire.FeQuery || typ == pgwire.FeParse {
		if s.tracking {
			if err := s.awaitSettingsSeen(typ); err != nil {
				return nil, err
			}
		}
		sql, err := s.statementText(typ)
		if err != nil {
			return nil, err
		}
		if sql != nil {
			gated = s.srv.parseGate.acquire(len(sql))
			a = s.analyze(sql)
		}
	}
	defer s.srv.parseGate.release(gated)
	if !s.tracking {
		return nil, nil
	}
	return s.protectClient(typ, a)
}

// analyze sends one statement text through sqlrewrite, counts and logs
// it. Without a policy the statement is forwarded unchanged, and text
// pg_query rejects still goes to the backend so that the client gets
// PostgreSQL's own syntax error.
func (s *Session) analyze(sql []byte) *sqlrewrite.Analysis {
	a, cached := s.srv.analyzer.Analyze(sql)
	m := s.srv.metrics
	if cached {
		m.CacheHits.Inc()
	} else {
		m.CacheMisses.Inc()
	}
	if a.Err != nil {
		m.countStatement(sqlrewrite.KindUnknown)
	} else {
		for i := range a.Statements {
			m.countStatement(a.Statements[i].Kind)
		}
	}
	if ce := s.log.Check(zap.DebugLevel, "statement"); ce != nil {
		ce.Write(zap.Stringers("kinds", a.Kinds()), zap.String("sql", a.Normalized()))
	}
	return a
}

// statementText returns the SQL of a Query or Parse message, nil for a
// malformed Parse (the backend answers that one).
func (s *Session) statementText(typ byte) ([]byte, error) {
	body, err := s.cr.Body()
	if err != nil {
		return nil, err
	}
	if typ == pgwire.FeQuery {
		return body[:max(len(body)-1, 0)], nil // drop the terminating NUL
	}
	sql, _ := parseQueryText(body)
	return sql, nil
}

// parseQueryText returns the SQL of a Parse message body: a statement name,
// then the query, both NUL-terminated.
func parseQueryText(body []byte) ([]byte, bool) {
	_, rest, ok := pgwire.Cstring(body)
	if !ok {
		return nil, false
	}
	sql, _, ok := pgwire.Cstring(rest)
	return sql, ok
}

// ClientForwarded follows what the message just forwarded did to the
// session: an extended-protocol segment opened or closed (txabort.go),
// and, after DDL, the catalog read queued behind it (catalog_fresh.go).
func (s *Session) ClientForwarded(typ byte) error {
	s.noteSegment(typ)
	if s.tracking && s.srv.protect != nil {
		return s.refreshCatalogAfterDDL(typ)
	}
	return nil
}

// AfterFlush runs, once the client pump has flushed toward the backend,
// the rounds of a statement phiguard sends in rounds (protect_rounds.go).
func (s *Session) AfterFlush() error { return s.awaitRounds() }

// ErrAbortDue wakes the client pump's wait for client input: the abort
// is due (WaitingAbort, ServeAbort).
var ErrAbortDue = errors.New("phiguard's abort is due")

// ServeAbort sends phiguard's abort of a transaction whose result it
// failed, when it is due (txabort.go). Client pump, before each client
// message and when woken.
func (s *Session) ServeAbort() error { return s.serveAbort() }

// AbortWaiting reports whether ServeAbort has something to do, for the
// client pump's wait (under the wire's lock).
func (s *Session) AbortWaiting() bool { return s.tracking && s.abortWaitingLocked() }

// BackendMessage is the guard's handling of the backend message the
// backend pump holds: handled reports that the guard answered the client
// itself (or dropped the message); else the wire forwards it.
func (s *Session) BackendMessage(typ byte) (handled bool, err error) {
	return s.protectBackend(typ)
}

// Record hands an audit event to the trail (audit.go).
func (s *Session) Record(ev audit.Event) { s.record(ev) }

// AuditInfo describes the session for its audit records, with its role.
func (s *Session) AuditInfo() *audit.Session { return s.auditInfo() }

// LoginInfo describes the session before its role is bound (a refused
// login).
func (s *Session) LoginInfo() *audit.Session { return s.auditSessionInfo() }

// RecordCutOff records the requests a session's end cut off, with code.
func (s *Session) RecordCutOff(code pgerr.Code) { s.recordCutOff(code) }

// Statements is the number of statements the session ran.
func (s *Session) Statements() int64 { return s.statements }
