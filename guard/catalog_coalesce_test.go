package guard

import (
	"fmt"
	"sync"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// TestCoalescedReadsJoin: the first session of a key at an epoch leads,
// the others wait on its read and get its catalog; a read of an older
// epoch serves no one; a failed read leaves the next to lead; the keys
// of a database are bounded, and those of older epochs dropped.
func TestCoalescedReadsJoin(t *testing.T) {
	var c coalescedReads
	pol := &policy.Policy{}
	k1, k2 := coalesceKey{pol: pol, row: "app"}, coalesceKey{pol: pol, row: "other"}
	e, lead := c.join("db", k1, 5)
	if !lead {
		t.Fatal("the first of a key does not lead")
	}
	w, lead := c.join("db", k1, 5)
	if lead || w != e {
		t.Fatal("the second of a key at the same epoch does not wait on the first's read")
	}
	if _, lead := c.join("db", k2, 5); !lead {
		t.Fatal("another key waits on the first's read")
	}
	if _, lead := c.join("other", k1, 5); !lead {
		t.Fatal("another database waits on the first's read")
	}
	cat := &catalog{}
	c.complete("db", k1, e, cat, 5, 1)
	select {
	case <-w.done:
	default:
		t.Fatal("the read waited on is not done")
	}
	if w.cat != cat {
		t.Fatal("the waiter does not get the leader's catalog")
	}
	if got, lead := c.join("db", k1, 5); lead || got.cat != cat {
		t.Fatal("a session after the read does not take it")
	}
	if _, lead := c.join("db", k1, 6); !lead {
		t.Fatal("a read of epoch 5 serves a session that needs 6")
	}
	if len(c.dbs["db"]) != 1 {
		t.Fatalf("%d keys kept after a read of epoch 6 began; want 1, those of 5 dropped", len(c.dbs["db"]))
	}
	e7, _ := c.join("db", k1, 7)
	c.complete("db", k1, e7, nil, 0, 0)
	if got, lead := c.join("db", k1, 7); !lead || got == e7 {
		t.Fatal("a failed read is waited on")
	}
	for i := 0; i < 2*maxCoalescedKeys; i++ {
		c.complete("db", coalesceKey{pol: pol, row: fmt.Sprint(i)}, nil, cat, 8, 1)
	}
	if n := len(c.dbs["db"]); n > maxCoalescedKeys {
		t.Fatalf("%d keys kept, more than %d", n, maxCoalescedKeys)
	}
}

// TestCoalescedReadsRace: sessions joining, completing and failing reads
// of a few keys at once (go test -race).
func TestCoalescedReadsRace(t *testing.T) {
	var c coalescedReads
	pol := &policy.Policy{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				key := coalesceKey{pol: pol, row: fmt.Sprint(i % 3)}
				e, lead := c.join("db", key, uint64(i/10))
				if lead {
					var cat *catalog
					if g%2 == 0 {
						cat = &catalog{}
					}
					c.complete("db", key, e, cat, uint64(i/10), int64(i))
					continue
				}
				select {
				case <-e.done:
					_ = e.cat
				default:
				}
			}
		}(g)
	}
	wg.Wait()
}

// TestStaleFlagMarks: every time the catalog is marked stale counts, so
// that a mark after another session's DDL's is told from it.
func TestStaleFlagMarks(t *testing.T) {
	var f staleFlag
	was, m := f.swapMark(true)
	if was || m != 1 || !f.Load() {
		t.Fatalf("swapMark: was %v, mark %d", was, m)
	}
	f.Store(true)
	if f.marks.Load() == m {
		t.Fatal("a second mark is not counted")
	}
	f.Store(false)
	if f.Load() || f.Swap(false) {
		t.Fatal("not cleared")
	}
}

// TestReadKey: keyQuery's row makes the key, unambiguous where fields
// meet; a temporary schema, a read inside a transaction block or no row
// make a read neither kept nor taken.
func TestReadKey(t *testing.T) {
	row := func(user, schemas, temp string) [][]byte {
		return [][]byte{[]byte(user), []byte("app"), []byte(schemas), []byte(temp), []byte("{UTF8,on}"), []byte("appdb"), nil, nil, nil, nil, nil}
	}
	var a, b readKey
	a.addKey(row("app", "{pg_catalog,public}", "0"))
	b.addKey(row("app{", "pg_catalog,public}", "0"))
	if a.row == b.row {
		t.Fatal("two rows that differ where their fields meet make one key")
	}
	a.status = 'I'
	if !a.shareable() {
		t.Fatal("a read outside a transaction block with no temporary schema is not shared")
	}
	for name, k := range map[string]readKey{"in a transaction block": {row: a.row, keyed: true, status: 'T'},
		"failed transaction": {row: a.row, keyed: true, status: 'E'}, "no key row": {status: 'I'}} {
		if k.shareable() {
			t.Errorf("%s: shared", name)
		}
	}
	var tmp readKey
	tmp.addKey(row("app", "{pg_temp_3,pg_catalog,public}", "16400"))
	tmp.status = 'I'
	if tmp.shareable() {
		t.Fatal("a session with a temporary schema shares its read")
	}
}
