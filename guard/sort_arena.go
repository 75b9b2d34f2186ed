package guard

// sortArena holds what a row held for a proxy-side sort keeps past its
// DataRow — its values' bytes, the slice of its values, its keys, and the
// plaintext its encrypted keys compare by — in chunks shared by the rows
// of one result. Holding a row had cost a dozen allocations (bench/search's
// care-team list, 2,000 rows of two encrypted keys: 14 a row, where the
// decryption itself needs none); from chunks it costs a few per chunk.
// Within a result a chunk is never reused: it lives as long as a row
// refers to it, so nothing handed out is overwritten. Chunks start small
// (a one-row result pays for little) and double up to a cap. Once the
// result is sent and nothing refers to it, reset readies the arena's last
// chunks for the session's next result (sort_spare.go).
type sortArena struct {
	bytes  arenaKind[byte]
	values arenaKind[[]byte]
	keys   arenaKind[sortValue]
	// fields is scratch for the fields of one row's values left for
	// decryptDataRow (readKeys): reused row after row, never kept.
	fields []*resultField
}

const (
	arenaMinBytes, arenaMaxBytes   = 1 << 10, 64 << 10
	arenaMinValues, arenaMaxValues = 16, 2048
	arenaMinKeys, arenaMaxKeys     = 8, 512
)

// arenaKind is one kind of an arena's chunks: the current chunk whole
// (base) and what is left of it (free), the size of the next, and how
// much the result took from all its chunks.
type arenaKind[T any] struct {
	base, free []T
	next, took int
}

// take hands out n elements of the current chunk, after a new one when
// it has too few left; lo and hi bound the sizes of new chunks.
func (k *arenaKind[T]) take(n, lo, hi int) []T {
	if n > len(k.free) {
		var size int
		size, k.next = nextChunk(k.next, n, lo, hi)
		k.base = make([]T, size)
		k.free = k.base
	}
	out := k.free[:n:n]
	k.free = k.free[n:]
	k.took += n
	return out
}

// reset hands the current chunk out again from its start, cleared (a
// key must come zeroed, and a value's plaintext should not outlive its
// result), when the result took no more than it holds; otherwise it
// drops it, and the next result's first chunk is as large as this one
// took (up to hi), to be kept in turn.
func (k *arenaKind[T]) reset(hi int) {
	if k.took <= len(k.base) {
		clear(k.base[:len(k.base)-len(k.free)])
		k.free = k.base
	} else {
		k.base, k.free, k.next = nil, nil, min(k.took, hi)
	}
	k.took = 0
}

// reset readies the arena for another result (sort_spare.go).
func (a *sortArena) reset() {
	a.bytes.reset(arenaMaxBytes)
	a.values.reset(arenaMaxValues)
	a.keys.reset(arenaMaxKeys)
	clear(a.fields)
}

// nextChunk is the size of the next chunk of a kind, and the one after.
func nextChunk(n, least, lo, hi int) (size, next int) {
	if n < lo {
		n = lo
	}
	size = max(n, least)
	return size, min(2*n, hi)
}

// copyBytes returns a copy of b that the arena keeps; never nil, so an
// empty value stays apart from NULL. A value larger than a quarter of the
// largest chunk gets an allocation of its own.
func (a *sortArena) copyBytes(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	if len(b) > len(a.bytes.free) && len(b) > arenaMaxBytes/4 {
		out := make([]byte, len(b))
		copy(out, b)
		return out
	}
	out := a.bytes.take(len(b), arenaMinBytes, arenaMaxBytes)
	copy(out, b)
	return out
}

// valueSlice returns an empty slice with room for n values, appended to
// without reaching the next row's.
func (a *sortArena) valueSlice(n int) [][]byte {
	return a.values.take(n, arenaMinValues, arenaMaxValues)[:0]
}

// keySlice returns n zero keys.
func (a *sortArena) keySlice(n int) []sortValue {
	if n == 0 {
		return nil
	}
	return a.keys.take(n, arenaMinKeys, arenaMaxKeys)
}
