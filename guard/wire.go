package guard

// Wire is what the guard asks of the wire's pumps (package proxy) beyond
// the readers and writers it was given: the wire owns the flushes (and
// counts their bytes), the requests in flight and the client pump's wait
// for client input.
type Wire interface {
	// FlushClient sends what is buffered toward the client (backend pump).
	FlushClient() error
	// FlushBackend sends what is buffered toward the backend (client pump).
	FlushBackend() error
	// Settled reports that every request so far is answered and the
	// session's transaction is not aborted.
	Settled() bool
	// FinishRequest pairs a ReadyForQuery the guard sent the client
	// itself with the oldest request in flight.
	FinishRequest(status byte)
	// WakeClientPump cuts short the client pump's wait for client input,
	// so that it sends the abort that is now due (txabort.go).
	WakeClientPump()
}

func (s *Session) flushClient() error  { return s.wire.FlushClient() }
func (s *Session) flushBackend() error { return s.wire.FlushBackend() }
