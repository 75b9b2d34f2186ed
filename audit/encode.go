package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
	"unicode/utf8"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// limits are the bounds the auditor applies while encoding.
type limits struct {
	maxSQL    int
	maxReason int
}

const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func (s *Session) encode(e *Entry) {
	if s == nil {
		return
	}
	e.Session, e.Client, e.TLS, e.CertSubject = s.ID, s.Client, s.TLSVersion, s.CertSubject
	e.User, e.Role, e.Database = s.User, s.Role, s.Database
}

// encodeSQL records the statement's kind, tables, fingerprint and
// normalized text; nothing else of the analysis reaches the record.
func encodeSQL(e *Entry, a *sqlrewrite.Analysis, index int, lim *limits) {
	if a == nil {
		e.Kind = sqlrewrite.KindUnknown.String()
		return
	}
	kinds := a.Kinds()
	if index >= 0 && index < len(kinds) {
		e.Kind = kinds[index].String()
	} else {
		e.Kind = sqlrewrite.KindUnknown.String()
	}
	if index >= 0 && index < len(a.Statements) {
		for _, t := range a.Statements[index].Tables {
			e.Tables = append(e.Tables, t.String())
		}
	}
	sql := a.Normalized()
	sum := sha256.Sum256([]byte(sql))
	e.Fingerprint = hex.EncodeToString(sum[:8])
	e.SQL, e.SQLTruncated = truncate(sql, lim.maxSQL)
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

func i64(v int64) *int64 { return &v }
func bptr(v bool) *bool  { return &v }

func durUS(d time.Duration) *int64 { return i64(d.Microseconds()) }

func (ev *Statement) encode(e *Entry, lim *limits) {
	e.Event = EventStatement
	ev.Session.encode(e)
	e.Protocol = string(ev.Protocol)
	encodeSQL(e, ev.Analysis, ev.Index, lim)
	e.Read, e.Written = ev.Read, ev.Written
	e.Decision, e.Rule = string(ev.Decision), ev.Rule
	e.Rows = i64(ev.Rows)
	for _, s := range ev.Subjects {
		if s != nil {
			e.Subjects = append(e.Subjects, s.snapshot())
		}
	}
	e.DurationUS = durUS(ev.Duration)
	e.SQLState = ev.SQLState
}

func (ev *Refusal) encode(e *Entry, lim *limits) {
	e.Event = EventRefusal
	ev.Session.encode(e)
	e.Protocol = string(ev.Protocol)
	encodeSQL(e, ev.Analysis, ev.Index, lim)
	e.Read, e.Written = ev.Read, ev.Written
	e.Decision, e.Rule = string(ev.Decision), ev.Rule
	e.SQLState = ev.SQLState
}

func (ev *ConnectionOpen) encode(e *Entry, _ *limits) {
	e.Event = EventConnectionOpen
	ev.Session.encode(e)
}

func (ev *ConnectionClose) encode(e *Entry, _ *limits) {
	e.Event = EventConnectionClose
	ev.Session.encode(e)
	e.DurationUS = durUS(ev.Duration)
	e.Statements = i64(ev.Statements)
	e.Reason = ev.Reason
}

func (ev *AuthFailure) encode(e *Entry, _ *limits) {
	e.Event = EventAuthFailure
	ev.Session.encode(e)
	e.Reason, e.SQLState = ev.Reason, ev.SQLState
}

func (ev *BreakGlass) encode(e *Entry, lim *limits) {
	e.Event = EventBreakGlass
	ev.Session.encode(e)
	e.Reason, _ = truncate(ev.Reason, lim.maxReason)
	e.Granted = bptr(ev.Granted)
	e.Rule, e.SQLState = ev.Rule, ev.SQLState
}

func (ev *KeyEvent) encode(e *Entry, lim *limits) {
	e.Event = EventKey
	e.Action, e.KeyID, e.KeyVersion, e.Subject, e.Error = ev.Action, ev.KeyID, ev.Version, ev.Subject, ev.Error
	e.Reason, _ = truncate(ev.Reason, lim.maxReason)
	e.Outcome = ev.Outcome
}

func (ev *ShreddedRead) encode(e *Entry, _ *limits) {
	e.Event = EventKey
	ev.Session.encode(e)
	e.Action, e.KeyID, e.Read = "shredded_read", ev.KeyID, []string{ev.Column}
}

func (ev *PolicyReload) encode(e *Entry, _ *limits) {
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
