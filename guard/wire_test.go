package guard

// testWire is the wire of a Session a test drives without pumps: flushes
// go to the session's own writers, every request counts as answered.
type testWire struct {
	s        *Session
	finished []byte // the statuses of the ReadyForQuerys the guard sent itself
}

func (w *testWire) FlushClient() error        { return w.s.cw.Flush() }
func (w *testWire) FlushBackend() error       { return w.s.bw.Flush() }
func (w *testWire) Settled() bool             { return true }
func (w *testWire) FinishRequest(status byte) { w.finished = append(w.finished, status) }
func (w *testWire) WakeClientPump()           {}
