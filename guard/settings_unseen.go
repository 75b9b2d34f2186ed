package guard

import (
	"bytes"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
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
func (s *Session) noteSettingsUnseen(typ byte, a *sqlrewrite.Analysis) {
	if s.srv.protect == nil {
		return
	}
	changes := typ == pgwire.FeFunctionCall
	if (typ == pgwire.FeQuery || typ == pgwire.FeParse) && a != nil {
		for _, st := range a.Statements {
			// A Query's statements run: any may run code of the
			// database's users unseen (a trigger, an operator, a
			// default: datetime_free.go's mayRunCode).
			changes = changes || st.MayChangeSettingsUnseen() || typ == pgwire.FeQuery && mayRunCode(st)
		}
	}
	if changes {
		s.countUnseen()
	}
}

// countUnseen counts one request that may change the settings unseen;
// the expectations pushed after it carry the count.
func (s *Session) countUnseen() {
	s.unseenSent++
	s.expects.mu.Lock()
	s.expects.unseenEpoch = s.unseenSent
	s.expects.mu.Unlock()
}

// unseenAnswered notes, at a ReadyForQuery, that the requests counted up
// to head's were answered (backend pump).
func (s *Session) unseenAnswered(head *expectation) {
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
func (s *Session) awaitSettingsSeen(typ byte) error {
	if typ != pgwire.FeQuery && typ != pgwire.FeParse || s.segmentOpen || s.unseenDone.Load() >= s.unseenSent {
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
// client-only encoding (SJIS, BIG5, GBK, UHC, GB18030) for a byte above
// 0x7F that, read as the first byte of one of their characters, takes an
// ASCII byte after it (a quote, a backslash) into that character. So
// such a statement with a backslash, or with non-ASCII text one of those
// encodings would read an ASCII byte of (asciiKeptUnderClientEncodings),
// after such an Execute in the same segment, is refused (0A000); any
// other is lexed alike under every setting phiguard lets a session keep
// ('Müller', 'José': each of their bytes above 0x7F is read with another
// such byte). DateStyle, TimeZone and IntervalStyle, which PostgreSQL applies
// when it analyses a statement, are datetime_pending.go's: such a call
// counts as a request that may change them. search_path is not covered
// (README).

// noteExecuteUnseen marks the segment once it executes a statement that
// may change the settings unseen, and counts the Execute, so that a
// segment after its Sync waits for its answer (client pump, onExecute).
// Any statement but transaction control, SET and SHOW may: a trigger, an
// operator or a column default runs a user's function its text does not
// name, and one turning standard_conforming_strings off let the UPDATE
// behind it store a name in clear (TestRedTeam14SettingInTrigger). The
// Execute is counted, not only the Parse: a statement prepared in an
// earlier request runs its code again at each Execute.
func (s *Session) noteExecuteUnseen(st *stmtInfo) {
	if st == nil || st.analysis == nil || s.srv.protect == nil {
		return
	}
	for _, stmt := range st.analysis.Statements {
		if stmt.MayChangeSettingsUnseen() || mayRunCode(stmt) {
			s.segmentUnseen = true
			s.countUnseen()
			return
		}
	}
}

// unseenInSegment refuses the text of a Parse or a Query sent behind
// such an Execute in the same segment when it holds a byte the settings
// could make PostgreSQL lex otherwise (client pump).
func (s *Session) unseenInSegment(sql []byte) *pgerr.Error {
	if !s.segmentUnseen {
		return nil
	}
	if bytes.IndexByte(sql, '\\') >= 0 || !asciiKeptUnderClientEncodings(sql) {
		return pgerr.New(pgerr.FeatureNotSupported,
			"a statement holding a backslash or non-ASCII text that a client-only encoding would read otherwise, sent behind the execution of another statement in the same pipeline segment (before its Sync), cannot run through phiguard: that statement may change standard_conforming_strings or client_encoding (in a function, a trigger, an operator), which PostgreSQL reports only at the Sync; send a Sync first")
	}
	return nil
}

// asciiKeptUnderClientEncodings: read as each client-only encoding
// PostgreSQL has, sql keeps every ASCII byte a character of its own, so
// PostgreSQL converting it from that encoding would lex the same quotes,
// backslashes and delimiters phiguard lexed. Their characters' lengths,
// as PostgreSQL's pg_encoding_mblen gives them: SJIS and SHIFT_JIS_2004
// two bytes from a lead of 0x81-0x9F or 0xE0-0xFC (else one); BIG5, GBK
// and UHC two from any byte above 0x7F; GB18030 four when a digit
// follows such a byte, else two.
func asciiKeptUnderClientEncodings(sql []byte) bool {
	sjis := func(c, _ byte) int {
		if c >= 0x81 && c <= 0x9F || c >= 0xE0 && c <= 0xFC {
			return 2
		}
		return 1
	}
	double := func(byte, byte) int { return 2 }
	gb18030 := func(_, next byte) int {
		if next >= '0' && next <= '9' {
			return 4
		}
		return 2
	}
	for _, mblen := range []func(c, next byte) int{sjis, double, gb18030} {
		for i := 0; i < len(sql); {
			if sql[i] < 0x80 {
				i++
				continue
			}
			var next byte
			if i+1 < len(sql) {
				next = sql[i+1]
			}
			n := mblen(sql[i], next)
			for j := i + 1; j < i+n && j < len(sql); j++ {
				if sql[j] < 0x80 {
					return false
				}
			}
			i += n
		}
	}
	return true
}
