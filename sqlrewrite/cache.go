package sqlrewrite

import "sync"

// Analyzer analyses SQL text through a bounded cache keyed by the exact
// text or, for texts with literals, by their shape (see shape.go). It is safe for concurrent use by every session of a proxy.
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
	if a := z.lookup(sql); a != nil {
		return a, true
	}
	var shapeBuf [512]byte
	var spanBuf [16]literalSpan
	shape, spans, shapeOK := appendShape(shapeBuf[:0], sql, spanBuf[:0])
	shapeOK = shapeOK && len(spans) > 0 // without literals the shape is the text
	if shapeOK {
		if a := z.lookup(shape); a != nil {
			return a, true
		}
	}

	// Parse outside the lock: it is the slow part, and two sessions racing
	// on the same new text merely parse it twice.
	a = Analyze(string(sql))
	key := a.sql
	if shapeOK && a.Err == nil && !a.valueDependent() && verifyShape(a.sql, spans) {
		key = string(shape)
	}
	z.mu.Lock()
	z.storeLocked(key, a)
	z.mu.Unlock()
	return a, false
}

// lookup finds key in either generation, promoting an old entry.
func (z *Analyzer) lookup(key []byte) *Analysis {
	z.mu.Lock()
	defer z.mu.Unlock()
	if a, ok := z.young[string(key)]; ok {
		return a
	}
	if a, ok := z.old[string(key)]; ok {
		z.storeLocked(string(key), a)
		return a
	}
	return nil
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
