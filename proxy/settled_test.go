package proxy

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/pgwire"
	"go.uber.org/zap"
)

// settledProbe is the client's side of the wire: at the first bytes it
// is sent (the ReadyForQuery), it asks the session what a request the
// client sent at once would find.
type settledProbe struct {
	s             *session
	seen          bool
	settled, idle bool
}

func (p *settledProbe) Write(b []byte) (int, error) {
	if !p.seen {
		p.seen = true
		p.settled = p.s.Settled()
		p.s.mu.Lock()
		p.idle = p.s.idleLocked()
		p.s.mu.Unlock()
	}
	return len(b), nil
}

// TestSettledWhenClientHasReadyForQuery: the session counted a request
// answered only after its ReadyForQuery was flushed to the client, so a
// request the client sent at once could find the one before still in
// flight (guard.Wire.Settled false): phiguard then did not prepare a
// statement again whose guard had failed, and its Bind ran the old one
// (TestRedTeam32bJudgeAddedAfterRead saw 26000 once in 8 runs). Settled
// holds by the time the client has the ReadyForQuery now; the session is
// idle for a drain only once it is flushed.
func TestSettledWhenClientHasReadyForQuery(t *testing.T) {
	srv := newCheckServer(t, 1, nil)
	s := &session{srv: srv, log: zap.NewNop(), g: &guard.Session{}}
	probe := &settledProbe{s: s}
	s.cw = bufio.NewWriterSize(probe, writeBufferSize)
	s.br = pgwire.NewMsgReader(bytes.NewReader([]byte{pgwire.BeReadyForQuery, 0, 0, 0, 5, 'I'}), readBufferSize, 1<<20)
	s.terminating.Store(true) // the end of the script is no lost backend
	s.startRequest()
	if s.Settled() {
		t.Fatal("settled with a request in flight")
	}
	s.pumpBackend()
	if !probe.seen {
		t.Fatal("no ReadyForQuery reached the client")
	}
	if !probe.settled {
		t.Error("the client had the ReadyForQuery while the session still counted its request in flight")
	}
	if probe.idle {
		t.Error("idle for a drain before the ReadyForQuery was flushed to the client")
	}
	s.mu.Lock()
	idle := s.idleLocked()
	s.mu.Unlock()
	if !s.Settled() || !idle {
		t.Errorf("after the ReadyForQuery: settled %v, idle %v", s.Settled(), idle)
	}
}
