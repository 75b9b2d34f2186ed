package guard

// sortArena holds what a row held for a proxy-side sort keeps past its
// DataRow — its values' bytes, the slice of its values, its keys, and the
// plaintext its encrypted keys compare by — in chunks shared by the rows
// of one result. Holding a row had cost a dozen allocations (bench/search's
// care-team list, 2,000 rows of two encrypted keys: 14 a row, where the
// decryption itself needs none); from chunks it costs a few per chunk.
// A chunk is never reused: it lives as long as a row refers to it, so
// nothing handed out is ever overwritten. Chunks start small (a one-row
// result pays for little) and double up to a cap.
type sortArena struct {
	bytes  []byte
	values [][]byte
	keys   []sortValue
	// fields is scratch for the fields of one row's values left for
	// decryptDataRow (readKeys): reused row after row, never kept.
	fields []*resultField
	// nBytes, nValues and nKeys are the sizes of the next chunks.
	nBytes, nValues, nKeys int
}

const (
	arenaMinBytes, arenaMaxBytes   = 1 << 10, 64 << 10
	arenaMinValues, arenaMaxValues = 16, 2048
	arenaMinKeys, arenaMaxKeys     = 8, 512
)

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
	if len(b) > len(a.bytes) {
		if len(b) > arenaMaxBytes/4 {
			out := make([]byte, len(b))
			copy(out, b)
			return out
		}
		var size int
		size, a.nBytes = nextChunk(a.nBytes, len(b), arenaMinBytes, arenaMaxBytes)
		a.bytes = make([]byte, size)
	}
	out := a.bytes[:len(b):len(b)]
	copy(out, b)
	a.bytes = a.bytes[len(b):]
	return out
}

// valueSlice returns an empty slice with room for n values, appended to
// without reaching the next row's.
func (a *sortArena) valueSlice(n int) [][]byte {
	if n > len(a.values) {
		var size int
		size, a.nValues = nextChunk(a.nValues, n, arenaMinValues, arenaMaxValues)
		a.values = make([][]byte, size)
	}
	out := a.values[:0:n]
	a.values = a.values[n:]
	return out
}

// keySlice returns n zero keys.
func (a *sortArena) keySlice(n int) []sortValue {
	if n == 0 {
		return nil
	}
	if n > len(a.keys) {
		var size int
		size, a.nKeys = nextChunk(a.nKeys, n, arenaMinKeys, arenaMaxKeys)
		a.keys = make([]sortValue, size)
	}
	out := a.keys[:n:n]
	a.keys = a.keys[n:]
	return out
}
