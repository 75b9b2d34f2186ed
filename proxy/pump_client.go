package proxy

import (
	"time"

	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/pgwire"
)

// pumpClient forwards client messages to the backend. The guard sees
// each first (ClientMessage: every statement, simple Query and extended
// Parse, is analysed there); a message it does not replace is forwarded
// as its original bytes.
//
// Writes toward the backend are flushed at the messages after which a
// client waits for an answer (Sync, Flush, Query, CopyDone, CopyFail,
// FunctionCall) and whenever no more client input is buffered, so that a
// pipeline arriving in one read leaves in one write.
func (s *session) pumpClient() error {
	atBoundary := true // the last message forwarded ends a request (Query, Sync, ...)
	for {
		again, err := s.readyForClient(atBoundary)
		if err != nil {
			return err
		}
		if again {
			continue
		}
		typ, _, err := s.cr.Next()
		if err != nil {
			return err
		}
		if err := checkFrontendMessage(typ); err != nil {
			return err
		}
		atBoundary = false
		switch typ {
		case pgwire.FeQuery, pgwire.FeSync, pgwire.FeFunctionCall:
			s.startRequest() // the client now awaits one ReadyForQuery
			atBoundary = true
		case pgwire.FeTerminate:
			s.terminating.Store(true)
			if err := s.cr.Forward(s.bw); err != nil {
				return err
			}
			return s.flushBackend()
		}
		replaced, err := s.g.ClientMessage(typ)
		if err != nil {
			return err
		}
		if replaced != nil {
			_, err = s.bw.Write(replaced)
		} else {
			err = s.cr.Forward(s.bw)
		}
		if err == nil {
			err = s.g.ClientForwarded(typ)
		}
		if err != nil {
			return err
		}
		switch typ {
		case pgwire.FeSync, pgwire.FeFlush, pgwire.FeQuery, pgwire.FeCopyDone, pgwire.FeCopyFail, pgwire.FeFunctionCall:
			if err := s.flushBackend(); err != nil {
				return err
			}
		}
		if err := s.g.AfterFlush(); err != nil {
			return err
		}
	}
}

// readyForClient sends phiguard's abort when it is due (txabort.go) and,
// with no client input buffered, flushes toward the backend and waits for
// some; again is set when the wait was cut short for the abort.
func (s *session) readyForClient(atBoundary bool) (again bool, err error) {
	if s.g.Tracking() {
		if err := s.g.ServeAbort(); err != nil {
			return false, err
		}
	}
	if s.cr.Buffered() {
		return false, nil
	}
	if err := s.flushBackend(); err != nil {
		return false, err
	}
	if err := s.waitForClient(atBoundary); err != guard.ErrAbortDue {
		return false, err
	}
	return true, nil
}

// startRequest records that the client now awaits one ReadyForQuery.
func (s *session) startRequest() {
	now := time.Now()
	s.mu.Lock()
	s.inflight = append(s.inflight, now)
	s.mu.Unlock()
}
