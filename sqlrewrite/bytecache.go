package sqlrewrite

// genCache is the map behind Analyzer and AccessCache: bounded both by
// entry count and by the bytes its entries are estimated to hold, because
// a cache bounded by entries alone holds whatever its largest statements
// weigh (10,000 entries of 6 KB statements held gigabytes).
//
// It is two generations of maps rather than an LRU list: a lookup is one
// or two map probes, with no list surgery on the hot path. When the young
// generation would exceed half the entries or half the bytes, the old one
// is dropped and the young one becomes old; an entry found in the old
// generation is promoted (stored again in the young one). Hot entries
// therefore survive, and the accounted bytes never exceed the budget.
//
// An entry's cost may shrink after it is stored (an Analysis lets go of
// its syntax tree once planned), never grow: before a rotation the young
// generation is recounted with cost, so room freed that way is reused
// instead of evicting.
//
// genCache is not safe for concurrent use; its owners hold a mutex.
type genCache[V any] struct {
	halfEntries int
	halfBytes   int64
	maxEntry    int64         // costlier entries are not stored at all
	cost        func(V) int64 // current cost of a value, for recounts
	// shrink, if set, makes a value too costly to store let go of what it
	// can do without (an analysis, of its parse tree), and lean is what
	// it would cost then: a value that fits only shrunk is stored shrunk.
	shrink func(V)
	lean   func(V) int64

	young, old           map[string]genEntry[V]
	youngBytes, oldBytes int64
}

type genEntry[V any] struct {
	v        V
	cost     int64 // accounted: value, key and overhead
	keyBytes int64 // what the key adds to the value's own cost
}

// entryOverhead is what a map slot, the key's string header and the
// value's own header cost beyond the bytes the cost function counts.
const entryOverhead = 96

// maxEntryShare is the fraction of the budget above which one entry is not
// cached: a single huge statement must not evict everything else, and a
// statement that big gains little from the cache.
const maxEntryShare = 16

func newGenCache[V any](maxEntries int, maxBytes int64, cost func(V) int64) *genCache[V] {
	half := max(maxEntries/2, 1)
	halfBytes := max(maxBytes/2, 1)
	return &genCache[V]{
		halfEntries: half, halfBytes: halfBytes, maxEntry: max(maxBytes/maxEntryShare, 1), cost: cost,
		young: make(map[string]genEntry[V], min(half, 1024)),
	}
}

// getBytes finds key, given as bytes so that the lookup does not allocate.
func (c *genCache[V]) getBytes(key []byte) (V, bool) {
	if e, ok := c.young[string(key)]; ok {
		return e.v, true
	}
	if e, ok := c.old[string(key)]; ok {
		c.store(string(key), e)
		return e.v, true
	}
	var zero V
	return zero, false
}

func (c *genCache[V]) get(key string) (V, bool) {
	if e, ok := c.young[key]; ok {
		return e.v, true
	}
	if e, ok := c.old[key]; ok {
		c.store(key, e)
		return e.v, true
	}
	var zero V
	return zero, false
}

// put stores v under key, unless it alone costs more than the cache may
// give one entry. keyBytes is what the key holds beyond v's own cost: 0
// when it shares v's memory. put reports whether v was stored.
func (c *genCache[V]) put(key string, v V, keyBytes int64) bool {
	e := genEntry[V]{v: v, cost: c.cost(v) + keyBytes + entryOverhead, keyBytes: keyBytes}
	if e.cost > c.maxEntry && c.shrink != nil {
		if lean := c.lean(v) + keyBytes + entryOverhead; lean <= c.maxEntry {
			c.shrink(v)
			e.cost = lean
		}
	}
	if e.cost > c.maxEntry {
		return false
	}
	c.store(key, e)
	return true
}

func (c *genCache[V]) store(key string, e genEntry[V]) {
	if prev, ok := c.young[key]; ok {
		c.youngBytes -= prev.cost
	} else if len(c.young) >= c.halfEntries || c.youngBytes+e.cost > c.halfBytes {
		c.makeRoom(e.cost)
	}
	c.young[key] = e
	c.youngBytes += e.cost
}

// makeRoom recounts the young generation and rotates unless it is short
// of entries and the recount left a quarter of its bytes free: a recount
// costs a pass over the young entries, so it is only worth skipping a
// rotation when it buys room for many more.
func (c *genCache[V]) makeRoom(cost int64) {
	c.youngBytes = recount(c.young, c.cost)
	if len(c.young) < c.halfEntries && c.youngBytes+cost <= c.halfBytes-c.halfBytes/4 {
		return
	}
	c.old, c.oldBytes = c.young, c.youngBytes
	c.young, c.youngBytes = make(map[string]genEntry[V], min(c.halfEntries, 1024)), 0
}

// recount charges each entry of gen what it costs now (never more than it
// was charged) and returns the total.
func recount[V any](gen map[string]genEntry[V], cost func(V) int64) int64 {
	var total int64
	for k, e := range gen {
		e.cost = min(cost(e.v)+e.keyBytes+entryOverhead, e.cost)
		gen[k] = e
		total += e.cost
	}
	return total
}

// len reports how many distinct keys the cache holds.
func (c *genCache[V]) len() int {
	n := len(c.young)
	for k := range c.old {
		if _, dup := c.young[k]; !dup {
			n++
		}
	}
	return n
}

// bytes reports the accounted bytes: both generations, an entry promoted
// from old to young counted twice (it is held once, so this errs high).
func (c *genCache[V]) bytes() int64 { return c.youngBytes + c.oldBytes }
