package sqlrewrite

import "sync"

// Finding a text's literals (LiteralSpans) or parameters (ParamSpans)
// runs pg_query's scanner, through cgo: ~10 µs for a 100-byte statement
// on a quiet machine, 30-35 µs of every Parse of bench-search's first and
// third queries on a loaded one. Both answers are a function of the text
// alone, so each is kept for recent texts: a session repeating a
// statement, as an application does with its search screen's text and
// new parameters, pays it once.

// literalMemo and paramMemo each keep at most about 1,024 texts and 1 MiB
// (a text over 64 KiB is not kept), shared by every session.
var (
	literalMemo = newSpanCache(1024, 1<<20)
	paramMemo   = newSpanCache(1024, 1<<20)
)

// spanCache is a bounded memory of spans by exact text (bytecache.go).
type spanCache struct {
	mu    sync.Mutex
	cache *genCache[[][2]int]
}

func newSpanCache(entries int, bytes int64) *spanCache {
	return &spanCache{cache: newGenCache(entries, bytes, func(s [][2]int) int64 { return int64(16*len(s)) + 24 })}
}

// spans is find(sql), from memory when sql was seen. The answer is
// shared and must not be modified.
func (m *spanCache) spans(sql []byte, find func([]byte) [][2]int) [][2]int {
	if s, ok := m.lookup(sql); ok {
		return s
	}
	s := find(sql)
	m.store(sql, s)
	return s
}

func (m *spanCache) lookup(sql []byte) ([][2]int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cache.getBytes(sql)
}

func (m *spanCache) store(sql []byte, spans [][2]int) {
	if len(sql) > 64<<10 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cache.put(string(sql), spans, int64(len(sql)))
}
