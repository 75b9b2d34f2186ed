package proxy

// A session answers its guard's questions about the wire (guard.Wire).

// FlushClient sends what is buffered toward the client.
func (s *session) FlushClient() error { return s.flushClient() }

// FlushBackend sends what is buffered toward the backend.
func (s *session) FlushBackend() error { return s.flushBackend() }

// FinishRequest pairs a ReadyForQuery the guard sent with the oldest
// request in flight.
func (s *session) FinishRequest(status byte) { s.finishRequest(status) }

// Settled reports that every request so far is answered and the
// session's transaction is not aborted.
func (s *session) Settled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head == len(s.inflight) && s.txStatus != 'E'
}

// WakeClientPump cuts short the client pump's wait for client input.
func (s *session) WakeClientPump() {
	s.mu.Lock()
	s.wakeLocked()
	s.mu.Unlock()
}
