package guard

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/internal/race"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestSortArenaKeepsWhatItHands checks that nothing the arena hands out is
// overwritten by what it hands out later (chunks are never reused), that
// an empty value stays non-nil (not NULL), that appending to a value or a
// value slice never reaches the next one's bytes, and that keys come
// zeroed; across chunk growth and values too large for a chunk.
func TestSortArenaKeepsWhatItHands(t *testing.T) {
	var a sortArena
	r := rand.New(rand.NewPCG(1, 2))
	var want, got [][]byte
	var slices [][][]byte
	for i := range 5000 {
		n := r.IntN(300)
		if i%500 == 7 {
			n = arenaMaxBytes/4 + 1 + r.IntN(100) // its own allocation
		}
		v := make([]byte, n)
		for j := range v {
			v[j] = byte(r.Uint32())
		}
		c := a.copyBytes(v)
		clear(v) // the source is reused, as the backend's buffers are
		if c == nil {
			t.Fatalf("value %d: copy of %d bytes is nil", i, n)
		}
		if cap(c) != len(c) {
			t.Fatalf("value %d: cap %d > len %d: an append would write into the next value", i, cap(c), len(c))
		}
		want, got = append(want, append([]byte{}, c...)), append(got, c)
		vs := a.valueSlice(3)
		if len(vs) != 0 || cap(vs) != 3 {
			t.Fatalf("valueSlice(3): len %d cap %d", len(vs), cap(vs))
		}
		vs = append(vs, c, nil, c)
		slices = append(slices, vs)
		ks := a.keySlice(2)
		if len(ks) != 2 || ks[0].null || ks[1].rank != 0 {
			t.Fatalf("keySlice(2) not two zero keys: %+v", ks)
		}
		ks[0].rank, ks[1].null = int64(i), true
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("value %d overwritten by a later one", i)
		}
		if vs := slices[i]; len(vs) != 3 || !bytes.Equal(vs[0], want[i]) || vs[1] != nil || !bytes.Equal(vs[2], want[i]) {
			t.Fatalf("value slice %d overwritten by a later one", i)
		}
	}
	if v := a.copyBytes(nil); v == nil || len(v) != 0 {
		t.Fatalf("an empty value comes back as %v, want empty and non-nil", v)
	}
}

// TestSortArenaAllocations: a 2,000-row result of three values and two
// keys a row, held through the arena, costs a few dozen allocations in
// all (one allocation a value, a slice and a key set had cost 10,000 and
// more). Counted outside -race, whose detector allocates.
func TestSortArenaAllocations(t *testing.T) {
	value := bytes.Repeat([]byte("x"), 90)
	n := testing.AllocsPerRun(5, func() {
		var a sortArena
		for range 2000 {
			vs := a.valueSlice(3)
			_ = append(vs, a.copyBytes(value), a.copyBytes(value[:10]), a.copyBytes(value[:36]))
			_ = a.keySlice(2)
		}
	})
	if n > 60 && !race.Enabled {
		t.Fatalf("%v allocations to hold 2,000 rows, want at most 60", n)
	}
	t.Logf("%v allocations for 2,000 rows", n)
}

// BenchmarkSortedOrder sorts the care-team list's shape in phiguard: 2,000
// rows by two text keys (ten family names, so the second key decides
// most comparisons) and a rank.
func BenchmarkSortedOrder(b *testing.B) {
	lt, err := policy.ParseType("text")
	if err != nil {
		b.Fatal(err)
	}
	col := &policy.ProtectedColumn{Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "t"}}, Name: "c", Type: lt}
	run := &sortRun{plan: &sqlrewrite.SortPlan{Keys: []sqlrewrite.SortKey{{Column: col}, {Column: col}, {}}}}
	r := rand.New(rand.NewPCG(3, 4))
	key := func(s string) sortValue {
		k, err := pgorder.Parse(lt, []byte(s))
		if err != nil {
			b.Fatal(err)
		}
		return sortValue{key: k}
	}
	for i := range 2000 {
		run.rows = append(run.rows, sortedRow{keys: []sortValue{key(fmt.Sprintf("Gleason%d", r.IntN(10))), key(fmt.Sprintf("Name%d", r.IntN(500))), {rank: int64(i)}}})
	}
	order := make([]int32, len(run.rows))
	b.ReportAllocs()
	for b.Loop() {
		for i := range order {
			order[i] = int32(len(order) - 1 - i)
		}
		run.sortedOrder(order)
	}
}

// TestSortValueSize: a held row's key stays 64 bytes on 64-bit platforms
// (pgorder.Key 48, the rank, two flags), the size the arena's key chunks
// and the sort's in-place comparisons were measured with.
func TestSortValueSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes measured on 64-bit platforms")
	}
	if n := unsafe.Sizeof(sortValue{}); n != 64 {
		t.Fatalf("sortValue is %d bytes, want 64", n)
	}
}
