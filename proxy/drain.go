package proxy

import (
	"errors"
	"os"
	"time"
)

// Graceful shutdown ends each session at the first moment it is idle: no
// transaction open, no request in flight, and the client pump waiting for
// the client's next message. A session that is busy is left to finish; the
// server's bounded wait then closes whatever remains.
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
		s.waiting = true
		s.mu.Unlock()

		err := s.cr.wait()

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
	return s.head == len(s.inflight) && (s.txStatus == 'I' || s.txStatus == 0)
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
	s.bw.Write(terminateMessage)
	s.flushBackend()
	return errDrained
}
