package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
	"weak"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// encoder turns events into entries on the writer goroutine. It caches,
// per analysis, what every record of that statement repeats (kind,
// tables, normalized text, fingerprint), so a prepared statement executed
// a million times is normalized and hashed once. The cache holds its
// analyses weakly: it must not keep alive a statement the proxy's own
// byte-bounded caches let go of (an analysis holds the whole text). Not
// safe for concurrent use.
type encoder struct {
	maxSQL    int
	maxReason int
	sql       map[weak.Pointer[sqlrewrite.Analysis]]*sqlText
	sqlBytes  int // what the cached sqlTexts hold
	// Scratch for the Entry's optional numbers, which are pointers (so
	// that 0 is written but absence is not): the entry is written out
	// before the next event is encoded, so one of each is enough.
	rows, dur, stmts int64
}

// sqlText is the recorded form of one analysis.
type sqlText struct {
	kinds       []string   // per statement
	tables      [][]string // per statement
	sql         string
	truncated   bool
	fingerprint string
}

// maxSQLCache and maxSQLCacheBytes bound the analyses the encoder
// remembers; the cache is dropped whole when it fills (the proxy's own
// analysis cache keeps the hot ones, which come back at once).
const (
	maxSQLCache      = 4096
	maxSQLCacheBytes = 4 << 20
)

const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func (s *Session) encode(e *Entry) {
	if s == nil {
		return
	}
	e.Session, e.Client, e.TLS, e.CertSubject = s.ID, s.Client, s.TLSVersion, s.CertSubject
	e.User, e.Role, e.Database = s.User, s.Role, s.Database
}

// text returns the recorded form of a, from the cache when it can.
func (enc *encoder) text(a *sqlrewrite.Analysis) *sqlText {
	key := weak.Make(a)
	if st, ok := enc.sql[key]; ok {
		return st
	}
	st := &sqlText{}
	if a.Err == nil {
		st.kinds = make([]string, len(a.Statements))
		st.tables = make([][]string, len(a.Statements))
		for i, s := range a.Statements {
			st.kinds[i] = s.Kind.String()
			for _, t := range s.Tables {
				st.tables[i] = append(st.tables[i], t.String())
			}
		}
	}
	sql := a.Normalized()
	sum := sha256.Sum256([]byte(sql))
	st.fingerprint = hex.EncodeToString(sum[:8])
	st.sql, st.truncated = truncate(sql, enc.maxSQL)
	if st.truncated {
		st.sql = strings.Clone(st.sql) // not a window onto the whole text
	}
	size := st.size()
	if enc.sql == nil || len(enc.sql) >= maxSQLCache || enc.sqlBytes+size > maxSQLCacheBytes {
		enc.sql, enc.sqlBytes = make(map[weak.Pointer[sqlrewrite.Analysis]]*sqlText), 0
	}
	enc.sql[key] = st
	enc.sqlBytes += size
	return st
}

// size is about what st holds on the heap.
func (st *sqlText) size() int {
	n := 128 + len(st.sql) + len(st.fingerprint) + 16*len(st.kinds)
	for _, ts := range st.tables {
		for _, t := range ts {
			n += 16 + len(t)
		}
	}
	return n
}

// encodeSQL records the statement's kind, tables, fingerprint and
// normalized text; nothing else of the analysis reaches the record.
func (enc *encoder) encodeSQL(e *Entry, a *sqlrewrite.Analysis, index int) {
	e.Kind = sqlrewrite.KindUnknown.String()
	if a == nil {
		return
	}
	st := enc.text(a)
	if a.Err != nil {
		// An unparsable text is recorded as one unknown statement.
	} else if index >= 0 && index < len(st.kinds) {
		e.Kind = st.kinds[index]
		e.Tables = st.tables[index]
	}
	e.Fingerprint, e.SQL, e.SQLTruncated = st.fingerprint, st.sql, st.truncated
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) (string, bool) {
	if n <= 0 || len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

func bptr(v bool) *bool { return &v }

func (ev *Statement) encode(e *Entry, enc *encoder) {
	e.Event = EventStatement
	ev.Session.encode(e)
	e.Protocol = string(ev.Protocol)
	enc.encodeSQL(e, ev.Analysis, ev.Index)
	if len(ev.Tables) > 0 {
		e.Tables = ev.Tables
	}
	e.Read, e.Written = ev.Read, ev.Written
	e.Decision, e.Rule = string(ev.Decision), ev.Rule
	enc.rows = ev.Rows
	e.Rows = &enc.rows
	for _, s := range ev.Subjects {
		if s != nil {
			e.Subjects = append(e.Subjects, s.s)
		}
	}
	enc.dur = ev.Duration.Microseconds()
	e.DurationUS = &enc.dur
	e.SQLState = ev.SQLState
	e.Outcome = ev.Outcome
}

func (ev *Refusal) encode(e *Entry, enc *encoder) {
	e.Event = EventRefusal
	ev.Session.encode(e)
	e.Protocol = string(ev.Protocol)
	enc.encodeSQL(e, ev.Analysis, ev.Index)
	e.Read, e.Written = ev.Read, ev.Written
	e.Decision, e.Rule = string(ev.Decision), ev.Rule
	e.SQLState = ev.SQLState
}

func (ev *ConnectionOpen) encode(e *Entry, _ *encoder) {
	e.Event = EventConnectionOpen
	ev.Session.encode(e)
}

func (ev *ConnectionClose) encode(e *Entry, enc *encoder) {
	e.Event = EventConnectionClose
	ev.Session.encode(e)
	enc.dur, enc.stmts = ev.Duration.Microseconds(), ev.Statements
	e.DurationUS, e.Statements = &enc.dur, &enc.stmts
	e.Reason = ev.Reason
}

func (ev *AuthFailure) encode(e *Entry, _ *encoder) {
	e.Event = EventAuthFailure
	ev.Session.encode(e)
	e.Reason, e.SQLState = ev.Reason, ev.SQLState
}

func (ev *BreakGlass) encode(e *Entry, enc *encoder) {
	e.Event = EventBreakGlass
	ev.Session.encode(e)
	e.Reason, _ = truncate(ev.Reason, enc.maxReason)
	e.Granted = bptr(ev.Granted)
	e.Rule, e.SQLState = ev.Rule, ev.SQLState
}

func (ev *KeyEvent) encode(e *Entry, enc *encoder) {
	e.Event = EventKey
	e.Action, e.KeyID, e.KeyVersion, e.Subject, e.Error = ev.Action, ev.KeyID, ev.Version, ev.Subject, ev.Error
	e.Reason, _ = truncate(ev.Reason, enc.maxReason)
	e.Outcome = ev.Outcome
}

func (ev *ShreddedRead) encode(e *Entry, _ *encoder) {
	e.Event = EventKey
	ev.Session.encode(e)
	e.Action, e.KeyID, e.Read = "shredded_read", ev.KeyID, []string{ev.Column}
}

func (ev *PolicyReload) encode(e *Entry, _ *encoder) {
	e.Event = EventPolicyReload
	e.PolicyFile, e.PolicyVersion, e.Problems = ev.File, ev.Version, ev.Problems
	e.Accepted = bptr(ev.Accepted)
}

// eventTime returns the event's own time, or zero.
func eventTime(ev Event) time.Time {
	switch ev := ev.(type) {
	case *Statement:
		return ev.Time
	case *Refusal:
		return ev.Time
	case *ConnectionOpen:
		return ev.Time
	case *ConnectionClose:
		return ev.Time
	case *AuthFailure:
		return ev.Time
	case *BreakGlass:
		return ev.Time
	case *KeyEvent:
		return ev.Time
	case *ShreddedRead:
		return ev.Time
	case *PolicyReload:
		return ev.Time
	}
	return time.Time{}
}
