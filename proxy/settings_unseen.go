package proxy

import "github.com/phiguard/phiguard/sqlrewrite"

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
// A statement after such a call in the same Query, or in the same
// segment (before the Sync), is not covered (docs/catalog.md, HOLE).

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
