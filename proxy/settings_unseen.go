package proxy

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Settings a statement changes without its text showing it. phiguard
// lexes and parses every statement as PostgreSQL does under the session's
// settings (settings.go), and keeps them so: SET and set_config of
// standard_conforming_strings or client_encoding are refused, and the
// backend's report of either ends the session. But a function may run
// set_config or SET inside, and PostgreSQL reports the change only before
// the request's ReadyForQuery. A request the client pipelines behind such
// a call (a second Query sent before the first's answer, a Parse after
// its Sync) was read and forwarded before that report, while PostgreSQL
// lexed it after the function ran: with standard_conforming_strings off,
// UPDATE t SET grp = length('a\' || ' ), name = $$x$$ WHERE id = 1 -- ')
// sets grp for phiguard and stores name in clear for PostgreSQL
// (TestRedTeam12SettingInFunction). So a request that starts a protocol
// segment (a Query, or a Parse after a Sync) behind an unanswered request
// calling a function phiguard cannot see into
// (sqlrewrite's MayChangeSettingsUnseen, or a fast-path FunctionCall) is
// read only once that request is answered: its ReadyForQuery comes after
// the report, which ends the session before this request is forwarded.
// In the same Query PostgreSQL lexes every statement before it runs the
// first; the same segment is below.

// noteSettingsUnseen counts a message that may change the settings
// unseen (client pump, before the message's handler).
func (s *session) noteSettingsUnseen(typ byte, a *sqlrewrite.Analysis) {
	if s.srv.protect == nil {
		return
	}
	changes := typ == feFunctionCall
	if (typ == feQuery || typ == feParse) && a != nil {
		for _, st := range a.Statements {
			changes = changes || st.MayChangeSettingsUnseen()
		}
	}
	if !changes {
		return
	}
	s.unseenSent++
	s.expects.mu.Lock()
	s.expects.unseenEpoch = s.unseenSent
	s.expects.mu.Unlock()
}

// unseenAnswered notes, at a ReadyForQuery, that the requests counted up
// to head's were answered (backend pump).
func (s *session) unseenAnswered(head *expectation) {
	if head.unseenEpoch > s.unseenDone.Load() {
		s.unseenDone.Store(head.unseenEpoch)
		select {
		case s.unseenSettled <- struct{}{}:
		default:
		}
	}
}

// awaitSettingsSeen waits, before a Query or a Parse that starts a
// protocol segment, until every request that may have changed the
// settings unseen is answered (see above). It flushes what is buffered
// toward the backend first: the request waited for may be in it. Client
// pump.
func (s *session) awaitSettingsSeen(typ byte) error {
	if typ != feQuery && typ != feParse || s.segmentOpen || s.unseenDone.Load() >= s.unseenSent {
		return nil
	}
	if err := s.flushBackend(); err != nil {
		return err
	}
	for s.unseenDone.Load() < s.unseenSent {
		select {
		case <-s.unseenSettled:
		case <-s.backendDone:
			return errBackendDone
		}
	}
	return nil
}

// Within a segment the report comes too late: PostgreSQL sends it before
// the Sync's ReadyForQuery, and lexes a Parse (or a Query) the client
// sent after the Execute of such a call, before the Sync, under what the
// function set. Only two settings change how text lexes, and each only
// for some bytes: standard_conforming_strings for a backslash, a
// client-only encoding for a byte above 0x7F. So such a statement with
// either, after such an Execute in the same segment, is refused (0A000);
// any other is lexed alike under every setting phiguard lets a session
// keep. DateStyle, TimeZone and IntervalStyle, which PostgreSQL applies
// when it analyses a statement, are datetime_pending.go's: such a call
// counts as a request that may change them. search_path is not covered
// (README).

// noteExecuteUnseen marks the segment once it executes a statement that
// may change the settings unseen (client pump, onExecute).
func (s *session) noteExecuteUnseen(st *stmtInfo) {
	if st == nil || st.analysis == nil || s.srv.protect == nil {
		return
	}
	for _, stmt := range st.analysis.Statements {
		if stmt.MayChangeSettingsUnseen() {
			s.segmentUnseen = true
			return
		}
	}
}

// unseenInSegment refuses the text of a Parse or a Query sent behind
// such an Execute in the same segment when it holds a byte the settings
// could make PostgreSQL lex otherwise (client pump).
func (s *session) unseenInSegment(sql []byte) *pgerr.Error {
	if !s.segmentUnseen {
		return nil
	}
	for _, c := range sql {
		if c == '\\' || c >= 0x80 {
			return pgerr.New(pgerr.FeatureNotSupported,
				"a statement holding a backslash or a non-ASCII character, sent behind the execution of a function in the same pipeline segment (before its Sync), cannot run through phiguard: the function may change standard_conforming_strings or client_encoding, which PostgreSQL reports only at the Sync; send a Sync first")
		}
	}
	return nil
}
