package sqlrewrite

import "sync"

// Analyzer analyses SQL text through a bounded cache keyed by the exact
// text or, for texts with literals, by their shape (see shape.go). It is
// safe for concurrent use by every session of a proxy.
//
// The cache is bounded by entries and by the bytes its analyses are
// estimated to hold (memory.go; docs/memory.md has the formula), and
// evicts by generations (bytecache.go). A text whose analysis alone
// would take more than a sixteenth of the budget is analysed every time
// rather than cached (one whose parse tree alone is too big is cached
// without it).
type Analyzer struct {
	mu    sync.Mutex
	cache *genCache[*Analysis]
}

// NewAnalyzer returns an Analyzer whose cache holds at most about
// maxEntries texts and maxBytes bytes.
func NewAnalyzer(maxEntries int, maxBytes int64) *Analyzer {
	c := newGenCache(maxEntries, maxBytes, (*Analysis).cost)
	// A text whose tree is too big to cache beside it is cached without:
	// its plan then costs one more parse, once.
	c.shrink, c.lean = func(a *Analysis) { a.tree.Store(nil) }, (*Analysis).leanCost
	return &Analyzer{cache: c}
}

// Analyze returns the analysis of sql and whether it came from the cache.
// sql is only read during the call: the bytes may be a reused network
// buffer, and are copied only when a new entry is stored.
func (z *Analyzer) Analyze(sql []byte) (a *Analysis, cached bool) {
	return z.AnalyzeWith(sql, nil)
}

// AnalyzeWith is Analyze for a text already analysed by its maker
// (Access.Analysis): when sql is not cached, parsed is taken and cached
// as Analyze would have cached its own, instead of parsing sql again.
// A nil parsed, or one of another text, is ignored.
func (z *Analyzer) AnalyzeWith(sql []byte, parsed *Analysis) (a *Analysis, cached bool) {
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
	if parsed != nil && parsed.sql == string(sql) {
		a = parsed
	} else {
		a = Analyze(string(sql))
	}
	key, keyBytes := a.sql, 0
	if shapeOK && a.Err == nil && !a.valueDependent() && verifyShape(a.sql, spans) {
		key, keyBytes = string(shape), len(shape)
	}
	z.mu.Lock()
	z.cache.put(key, a, int64(keyBytes))
	z.mu.Unlock()
	return a, false
}

// lookup finds key in the cache, promoting an old entry.
func (z *Analyzer) lookup(key []byte) *Analysis {
	z.mu.Lock()
	defer z.mu.Unlock()
	a, _ := z.cache.getBytes(key)
	return a
}

// Len reports how many texts the cache holds, for tests and metrics.
func (z *Analyzer) Len() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.cache.len()
}

// Bytes reports the bytes the cache accounts for its entries: an upper
// bound of what they hold, for tests and metrics.
func (z *Analyzer) Bytes() int64 {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.cache.bytes()
}
