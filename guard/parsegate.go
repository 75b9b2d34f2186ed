package guard

import "sync"

// Analysing a statement (pg_query's parse, the access rewrite, the plan)
// takes 80 to 350 times its text in memory while it runs (the more
// literals per byte, the more): eight concurrent 1.1 MB IN-lists took
// phiguard past a gigabyte. parseGate bounds that
// working set: a statement larger than gatedStatementBytes is analysed
// only while the text of all such statements under analysis stays within
// limits.parse_inflight_bytes; one larger than that is analysed alone.
// Parsing is CPU-bound, so little throughput is lost: two cores parse
// eight big statements in about the same time one after another as all at
// once. Waiters are admitted in arrival order, so a big statement is not
// starved by a stream of smaller ones. The client pump holds its share
// from before the analysis until the statement is ready to send (so
// across the fetch of any per-subject key it needs), never while it
// writes to the backend or waits for the client.

// gatedStatementBytes is the size from which a statement passes the gate;
// below it a statement's working set (at most about 1.6 MB) is counted
// per session in docs/memory.md.
const gatedStatementBytes = 4 << 10

type parseGate struct {
	mu      sync.Mutex
	size    int64
	free    int64
	waiting []gateWaiter // in arrival order
	waits   func()       // counts a statement that had to wait
}

type gateWaiter struct {
	n     int64
	ready chan struct{}
}

func newParseGate(size int64, waits func()) *parseGate {
	return &parseGate{size: size, free: size, waits: waits}
}

// acquire blocks until a statement of n bytes may be analysed, and returns
// what the caller must release (0 for a statement below the gate).
func (g *parseGate) acquire(n int) int64 {
	if n < gatedStatementBytes {
		return 0
	}
	w := gateWaiter{n: min(int64(n), g.size)}
	g.mu.Lock()
	if len(g.waiting) == 0 && g.free >= w.n {
		g.free -= w.n
		g.mu.Unlock()
		return w.n
	}
	w.ready = make(chan struct{})
	g.waiting = append(g.waiting, w)
	g.mu.Unlock()
	if g.waits != nil {
		g.waits()
	}
	<-w.ready
	return w.n
}

// release returns what acquire took and admits the waiters that now fit.
func (g *parseGate) release(n int64) {
	if n == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.free += n
	for len(g.waiting) > 0 && g.free >= g.waiting[0].n {
		w := g.waiting[0]
		g.waiting = g.waiting[1:]
		g.free -= w.n
		close(w.ready)
	}
}
