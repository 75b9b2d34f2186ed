package guard

import (
	"bytes"
	"testing"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// holdRows fills run as holdSortedRow does: n rows of one value and two
// keys from the arena, a round term each when the run has rounds.
func holdRows(run *sortRun, n int, value []byte) {
	for i := range n {
		vs := append(run.arena.valueSlice(1), run.arena.copyBytes(value))
		ks := run.arena.keySlice(2)
		ks[0].rank, ks[1].null = int64(i+1), true
		run.rows = append(run.rows, sortedRow{values: vs, keys: ks})
		if r := run.rounds; r != nil {
			r.termBytes = append(r.termBytes, value...)
			r.terms16 = append(r.terms16, r.termBytes[len(r.termBytes)-len(value):])
		}
	}
	run.order = append(run.order[:0], make([]int32, n)...)
	run.sent = append(run.sent[:0], make([][][]byte, n)...)
}

// TestSortSpareReuses: a finished run's buffers are lent to the next run
// of the session emptied — keys zero, value bytes cleared, no row left —
// and the same arrays are handed out again, so a result of the shape of
// the last allocates no new chunk or row slice.
func TestSortSpareReuses(t *testing.T) {
	var sp sortSpare
	value := bytes.Repeat([]byte("p"), 40)
	first := &sortRun{rounds: &roundState{}}
	sp.lend(first)
	holdRows(first, 111, value)
	keys, vals := &first.arena.keys.base[0], &first.arena.bytes.base[0]
	sp.takeBack(first) // took more than its last chunks: the next result sizes them
	second := &sortRun{rounds: &roundState{}}
	sp.lend(second)
	holdRows(second, 111, value)
	sp.takeBack(second)
	keys, vals = &second.arena.keys.base[0], &second.arena.bytes.base[0]
	rows := &second.rows[:1][0]

	third := &sortRun{rounds: &roundState{}}
	sp.lend(third)
	if len(third.rows) != 0 || cap(third.rows) < 111 || &third.rows[:1][0] != rows {
		t.Fatalf("rows not lent again: len %d cap %d", len(third.rows), cap(third.rows))
	}
	if rows.values != nil || rows.keys != nil {
		t.Fatal("a lent row still refers to the last result")
	}
	for _, k := range third.arena.keys.free {
		if k.null || k.keyed || k.rank != 0 || k.key.Text() != nil {
			t.Fatalf("a lent key is not zero: %+v", k)
		}
	}
	if bytes.ContainsAny(third.arena.bytes.free, "p") {
		t.Fatal("the last result's value bytes are still in the lent arena")
	}
	holdRows(third, 111, value)
	if &third.arena.keys.base[0] != keys || &third.arena.bytes.base[0] != vals || &third.rows[0] != rows {
		t.Fatal("a second result of the same shape got new chunks or a new row slice")
	}
	if len(sp.rows) != 0 || sp.arena.keys.base != nil || sp.terms16 != nil {
		t.Fatal("the spare still holds what it lent")
	}
}

// TestSortSpareBounded: what a session keeps between results stays within
// sortSpareBytes: a result of 2,000 rows keeps only what fits.
func TestSortSpareBounded(t *testing.T) {
	var sp sortSpare
	for range 3 {
		run := &sortRun{plan: &sqlrewrite.SortPlan{}}
		sp.lend(run)
		holdRows(run, 2000, bytes.Repeat([]byte("q"), 90))
		sp.takeBack(run)
		if n := sp.size(); n > sortSpareBytes {
			t.Fatalf("the spare keeps %d bytes, over %d", n, sortSpareBytes)
		}
	}
	sp.keepWire(make([]byte, 0, sortWireBytes+1))
	if sp.wire != nil {
		t.Fatal("a write buffer over sortWireBytes kept")
	}
}
