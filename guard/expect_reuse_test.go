package guard

import "testing"

// TestExpectQueueReusesPopped: an expectation from fresh comes back, zeroed,
// once popped; one made with new never does, and neither does one the
// backend skipped (skipToSync) or a session's end took (takeAll).
func TestExpectQueueReusesPopped(t *testing.T) {
	var q expectQueue
	x := q.fresh(expExecute)
	x.name, x.dataRows = "p1", 7
	q.push(x)
	q.pop()
	if y := q.fresh(expSync); y != x || y.name != "" || y.dataRows != 0 || y.kind != expSync || !y.reusable {
		t.Fatalf("popped expectation not reused zeroed: same=%v %+v", y == x, *y)
	}

	own := &expectation{kind: expCatalog}
	q.push(own)
	q.pop()
	if y := q.fresh(expSync); y == own {
		t.Fatal("an expectation made with new was reused")
	}

	skipped := q.fresh(expBind)
	q.push(skipped)
	q.push(q.fresh(expSync))
	q.skipToSync()
	if q.head().kind != expSync {
		t.Fatalf("head after skipToSync: %v", q.head().kind)
	}
	q.pop()
	if y := q.fresh(expBind); y == skipped {
		t.Fatal("a skipped expectation was reused")
	}

	taken := q.fresh(expExecute)
	q.push(taken)
	if got := q.takeAll(); len(got) != 1 || got[0] != taken {
		t.Fatalf("takeAll = %v", got)
	}
	if q.head() != none {
		t.Fatal("queue not empty after takeAll")
	}
}

// TestExpectQueueOrder: many pushes and pops in any interleaving keep FIFO
// order while the array is reused.
func TestExpectQueueOrder(t *testing.T) {
	var q expectQueue
	var want []*expectation
	for round := 0; round < 50; round++ {
		for i := 0; i < round%7+1; i++ {
			x := q.fresh(expExecute)
			q.push(x)
			want = append(want, x)
		}
		for i := 0; i < round%5 && len(want) > 0; i++ {
			if q.head() != want[0] {
				t.Fatalf("round %d: head is not the oldest", round)
			}
			want = want[1:]
			q.pop()
		}
	}
	for len(want) > 0 {
		if q.head() != want[0] {
			t.Fatal("drain: head is not the oldest")
		}
		want = want[1:]
		q.pop()
	}
	if q.head() != none {
		t.Fatal("not empty")
	}
}
