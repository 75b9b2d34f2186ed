package proxy

import (
	"errors"
	"os"
	"time"

	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
)

// Graceful shutdown ends each session at the first moment it is idle: no
// transaction open, no request in flight, and the client pump waiting for
// the client's next message. A session that is busy is left to finish
// until the server's bounded wait ends; then abort cuts it: the backend
// connection is closed, the backend pump tells the client FATAL 57P01 (in
// the middle of a COPY too) and closes it, and the requests it cut are
// audited as interrupted. A session that does not end even so (a client
// that reads nothing) is closed outright a moment later.
//
// The client pump blocks in a read. To end an idle session, a read deadline
// in the past wakes it; the waker sets one only while the pump is marked
// waiting, and the pump clears it under the same lock before reading a
// message, so a wake-up can never cut a message in half.

// waitForClient blocks until client input arrives, or returns errDrained
// when the server is draining and the session is idle.
func (s *session) waitForClient(atBoundary bool) error {
	for {
		s.mu.Lock()
		if s.draining && atBoundary && s.idleLocked() {
			s.mu.Unlock()
			return s.terminateBackend()
		}
		if s.g.AbortWaiting() {
			s.mu.Unlock()
			return guard.ErrAbortDue
		}
		s.waiting = true
		s.mu.Unlock()

		err := s.cr.Wait()

		s.mu.Lock()
		s.waiting = false
		if s.deadline {
			s.client.SetReadDeadline(time.Time{})
			s.deadline = false
		}
		s.mu.Unlock()
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		// Woken for a drain: loop to re-check idleness.
	}
}

// idleLocked reports whether the backend has answered everything and no
// transaction is open.
func (s *session) idleLocked() bool {
	return s.head == len(s.inflight) && !s.forwarding && (s.txStatus == 'I' || s.txStatus == 0)
}

// wakeLocked interrupts the client pump's wait, if it is waiting.
func (s *session) wakeLocked() {
	if s.waiting {
		s.client.SetReadDeadline(time.Unix(1, 0))
		s.deadline = true
	}
}

// drain asks the session to end as soon as it is idle.
func (s *session) drain() {
	s.mu.Lock()
	s.draining = true
	if s.idleLocked() {
		s.wakeLocked()
	}
	s.mu.Unlock()
}

// terminateBackend ends the backend session politely before a drain.
func (s *session) terminateBackend() error {
	s.terminating.Store(true)
	s.bw.Write(pgwire.TerminateMessage)
	s.flushBackend()
	return errDrained
}

// errAborted ends a session cut at the shutdown deadline.
var errAborted = errors.New("session cut at the shutdown deadline")

// abort cuts a busy session for reason: closing the backend connection
// wakes the backend pump, which reports reason to the client (see
// backendGone). Writes to the client get a deadline, so that a client
// that reads nothing cannot hold the pump.
func (s *session) abort(reason *pgerr.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aborted != nil {
		return
	}
	s.aborted = reason
	s.client.SetWriteDeadline(time.Now().Add(abortWriteTimeout))
	if s.backend == nil {
		s.client.Close() // still in startup: nothing to report through
		return
	}
	s.backend.Close()
}

// abortWriteTimeout bounds the write of the abort's error to the client.
const abortWriteTimeout = 2 * time.Second

// abortReason is why the session was cut, or nil.
func (s *session) abortReason() *pgerr.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// cutOffCode is the SQLSTATE recorded for requests the session ended
// before they were answered: 57P01 when phiguard shut it down, else 08006
// (the backend or the client went away).
func (s *session) cutOffCode(err error) pgerr.Code {
	if pe := s.abortReason(); pe != nil {
		return pe.Code
	}
	if errors.Is(err, errDrained) {
		return pgerr.AdminShutdown
	}
	return pgerr.ConnectionFailure
}
