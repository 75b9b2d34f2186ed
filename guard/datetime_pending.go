package guard

import (
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// phiguard reads a date, time, timestamp or interval value it encrypts
// or compares (a literal at the Query or Parse, a parameter at the Bind)
// under the DateStyle, TimeZone and IntervalStyle the backend last
// reported in ParameterStatus (datetime.go). A SET of one of them
// earlier in the same Query, or earlier in the same pipeline (an Execute
// before the Sync, a Query sent before the previous one's answer), has
// not been reported yet when phiguard reads the value, while PostgreSQL
// reads it after the SET ran: under SET DateStyle = 'SQL, DMY',
// '02/03/2024' is 2 March for PostgreSQL, and phiguard encrypted 3
// February (TestRedTeam10DateStyleChangedInRequest). A function that
// runs SET or set_config inside does the same, unseen in the text
// (TestRedTeam12DateStyleInFunction), and so do a trigger, an operator
// or a default, so every statement that executes counts when it runs, at
// its Query or Execute (mayRunCode, datetime_free.go, which also narrows
// the refusal to values the settings read otherwise). So, as for
// extra_float_digits (output.go), such a value read in text while a
// request that may change the settings (sqlrewrite's MayChangeDatetime)
// is unanswered, or after one in the same Query, is refused (0A000):
// the client sends the SET in a request of its own. Each request
// expectation carries the count of such requests sent before it; the
// backend pump records the count at its ReadyForQuery, after the
// ParameterStatus the change caused.

// noteDatetimeChange counts a message that may change the settings
// (client pump, before the message's handler).
func (s *Session) noteDatetimeChange(typ byte, a *sqlrewrite.Analysis) {
	s.datetimeBefore, s.datetimeInRequest = s.datetimeSent, false
	changes, early := typ == pgwire.FeFunctionCall, false // set_config called by OID
	if (typ == pgwire.FeQuery || typ == pgwire.FeParse) && a != nil {
		for i, st := range a.Statements {
			// A Parse runs nothing; a Query's statement runs, and may run
			// code of the database's users unseen (datetime_free.go).
			if st.MayChangeDatetime() || typ == pgwire.FeQuery && mayRunCode(st) {
				changes, early = true, early || i < len(a.Statements)-1
			}
		}
	}
	if !changes {
		return
	}
	s.datetimeSent++
	s.datetimeInRequest = typ == pgwire.FeQuery && early
	s.expects.mu.Lock()
	s.expects.datetimeEpoch = s.datetimeSent
	s.expects.mu.Unlock()
}

// noteDatetimeExecute counts an Execute of a statement that may run code
// (client pump, onExecute): each execution may change the settings (a
// cached `SELECT f()` whose function sets DateStyle), before a value the
// pipeline binds after it.
func (s *Session) noteDatetimeExecute(st *stmtInfo) {
	if st == nil || st.analysis == nil {
		return
	}
	for _, stmt := range st.analysis.Statements {
		if mayRunCode(stmt) { // datetime_free.go
			s.datetimeSent++
			s.expects.mu.Lock()
			s.expects.datetimeEpoch = s.datetimeSent
			s.expects.mu.Unlock()
			return
		}
	}
}

// datetimeUnsettled refuses reading a value of col in text while the
// settings it is read under may have changed unseen (client pump).
func (s *Session) datetimeUnsettled(col *policy.ProtectedColumn, format int16) error {
	if format != 0 || !s.datetimeInRequest && s.datetimeDone.Load() >= s.datetimeBefore {
		return nil
	}
	switch t := col.Type.Scalar(); t.Name {
	case "date", "timestamp", "timestamptz", "time", "timetz", "interval":
		return &pgvalue.Error{Type: t.Name, Unsupported: true,
			Reason: "DateStyle, TimeZone or IntervalStyle may change before it in the same request (a SET, or a call of a function that may run one, earlier in the Query or pipeline), and phiguard reads it under the setting PostgreSQL reported last: send that statement in a request of its own, or the value in binary"}
	}
	return nil
}
