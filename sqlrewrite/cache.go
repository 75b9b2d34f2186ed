package sqlrewrite

import "sync"

// Analyzer analyses SQL text through a bounded cache keyed by the exact
// text. It is safe for concurrent use by every session of a proxy.
//
// The cache is two generations of maps rather than an LRU list: a lookup is
// one or two map probes under a mutex, with no list surgery on the hot path.
// When the young generation fills, the old one is dropped and the young one
// becomes old; an entry found in the old generation is promoted. Hot
// statements therefore survive, and at most 2×half entries are ever held.
type Analyzer struct {
	mu    sync.Mutex
	half  int
	young map[string]*Analysis
	old   map[string]*Analysis
}

// NewAnalyzer returns an Analyzer whose cache holds about maxEntries texts.
func NewAnalyzer(maxEntries int) *Analyzer {
	half := maxEntries / 2
	if half < 1 {
		half = 1
	}
	return &Analyzer{half: half, young: make(map[string]*Analysis, half)}
}

// Analyze returns the analysis of sql and whether it came from the cache.
// sql is only read during the call: the bytes may be a reused network
// buffer, and are copied only when a new entry is stored.
func (z *Analyzer) Analyze(sql []byte) (a *Analysis, cached bool) {
	z.mu.Lock()
	if a, ok := z.young[string(sql)]; ok {
		z.mu.Unlock()
		return a, true
	}
	if a, ok := z.old[string(sql)]; ok {
		z.storeLocked(a.sql, a)
		z.mu.Unlock()
		return a, true
	}
	z.mu.Unlock()

	// Parse outside the lock: it is the slow part, and two sessions racing
	// on the same new text merely parse it twice.
	a = Analyze(string(sql))
	z.mu.Lock()
	z.storeLocked(a.sql, a)
	z.mu.Unlock()
	return a, false
}

func (z *Analyzer) storeLocked(key string, a *Analysis) {
	if len(z.young) >= z.half {
		z.old = z.young
		z.young = make(map[string]*Analysis, z.half)
	}
	z.young[key] = a
}

// Len reports how many texts the cache holds, for tests and metrics.
func (z *Analyzer) Len() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := len(z.young)
	for k := range z.old {
		if _, dup := z.young[k]; !dup {
			n++
		}
	}
	return n
}
