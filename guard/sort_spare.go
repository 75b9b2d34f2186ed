package guard

import "unsafe"

// A finished proxy-side sort's buffers, kept for the session's next one
// (backend pump). A statement sorted in phiguard had allocated its held
// rows' slice, its arena's chunks, its round terms and its output afresh,
// and let them go at its end: bench/search's first query (111 rows held,
// 50 sent) allocated 165 KB a query, garbage that cost a tenth of
// phiguard's CPU in collection. A session running such statements one
// after another now reuses the last one's buffers, emptied.
//
// They are lent at a result's first row and taken back at its end only
// when nothing still refers to them: the rows were written to the client
// (a bufio.Writer copies them) and no portal keeps some for a later
// Execute (portions.go), whose values live in the arena. A result that
// fails, groups or aggregates keeps its buffers to the collector. What is
// kept is cleared (no plaintext outlives its result in them) and bounded
// by sortSpareBytes, and writeRows' buffer by sortWireBytes: counted per
// session in docs/memory.md.

// sortSpareBytes bounds the run buffers a session keeps between sorted
// results; sortWireBytes the output buffer.
const sortSpareBytes, sortWireBytes = 64 << 10, 16 << 10

// sortSpare is what a session keeps between sorted results.
type sortSpare struct {
	rows           []sortedRow
	order          []int32
	sent           [][][]byte
	arena          sortArena
	terms16        [][]byte
	termBytes      []byte
	scratch, shown [][]byte
	encoded, wire  []byte
}

// lend gives a result's run the kept buffers, at its first row; they are
// the run's until takeBack, if ever.
func (sp *sortSpare) lend(run *sortRun) {
	run.rows, run.arena = sp.rows[:0], sp.arena
	run.order, run.sent = sp.order[:0], sp.sent[:0]
	run.scratch, run.shown, run.encoded = sp.scratch[:0], sp.shown[:0], sp.encoded[:0]
	if r := run.rounds; r != nil {
		r.terms16, r.termBytes = sp.terms16[:0], sp.termBytes[:0]
	}
	*sp = sortSpare{wire: sp.wire}
}

// takeBack keeps a finished run's buffers, emptied, for the next result:
// those that fit in sortSpareBytes, the largest first. The caller
// vouches that nothing refers to the run's rows any more.
func (sp *sortSpare) takeBack(run *sortRun) {
	budget := sortSpareBytes
	keep := func(size int) bool {
		if size > budget {
			return false
		}
		budget -= size
		return true
	}
	run.arena.reset()
	a := &run.arena
	if keep(cap(a.keys.base)*int(unsafe.Sizeof(sortValue{})) + cap(a.values.base)*24 + cap(a.bytes.base)) {
		sp.arena = *a
	}
	if keep(cap(run.rows) * int(unsafe.Sizeof(sortedRow{}))) {
		clear(run.rows[:cap(run.rows)])
		sp.rows = run.rows[:0]
	}
	if r := run.rounds; r != nil && keep(cap(r.terms16)*24+cap(r.termBytes)) {
		clear(r.terms16)
		sp.terms16, sp.termBytes = r.terms16[:0], r.termBytes[:0]
	}
	if keep(cap(run.order)*4 + cap(run.sent)*24 + (cap(run.scratch)+cap(run.shown))*24 + cap(run.encoded)) {
		clear(run.sent[:cap(run.sent)])
		clear(run.scratch[:cap(run.scratch)])
		clear(run.shown[:cap(run.shown)])
		clear(run.encoded[:cap(run.encoded)])
		sp.order, sp.sent, sp.scratch, sp.shown, sp.encoded = run.order[:0], run.sent[:0], run.scratch[:0], run.shown[:0], run.encoded[:0]
	}
}

// wireBuf is the buffer writeRows encodes rows into, kept between
// results when it stays within sortWireBytes (writeRows writes it out
// past 64 KiB).
func (sp *sortSpare) wireBuf() []byte {
	b := sp.wire[:0]
	sp.wire = nil
	return b
}

// keepWire keeps writeRows' buffer, cleared, when it fits.
func (sp *sortSpare) keepWire(b []byte) {
	if cap(b) <= sortWireBytes {
		clear(b[:cap(b)])
		sp.wire = b[:0]
	}
}

// size is what the spare holds, as takeBack counts it, without its
// output buffer.
func (sp *sortSpare) size() int {
	a := &sp.arena
	return cap(a.keys.base)*int(unsafe.Sizeof(sortValue{})) + cap(a.values.base)*24 + cap(a.bytes.base) +
		cap(sp.rows)*int(unsafe.Sizeof(sortedRow{})) + cap(sp.terms16)*24 + cap(sp.termBytes) +
		cap(sp.order)*4 + cap(sp.sent)*24 + (cap(sp.scratch)+cap(sp.shown))*24 + cap(sp.encoded)
}
