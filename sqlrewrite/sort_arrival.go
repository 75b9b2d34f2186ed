package sqlrewrite

import "strings"

// The trailing plaintext run of a proxy-side sort, served by the
// database's ORDER BY (docs/search.md, "Plaintext keys").
//
// A run of plaintext ORDER BY keys is ranked in the database, a hidden
// `dense_rank() OVER (ORDER BY run)`, and phiguard compares the ranks
// where the rows tie on every key before the run. When the run ends the
// ORDER BY (`ORDER BY p.last, e.start NULLS FIRST, e.id`: the address
// read's shape, bench/search's fourth query), nothing after it needs its
// ties told apart, so the text is sent with the run as its ORDER BY
// instead, the rank a constant: phiguard's sort is stable (ties keep the
// order the rows arrived in, guard/protect_sort.go sortedOrder), so rows
// equal on the keys before the run come out in the run's order, as the
// database sorted them, under its own operators, collations and NULLS
// order, as the window ranked them. Rows that tie on the run too are in
// an order PostgreSQL chose, as the plaintext statement's are. The
// window cost the database a WindowAgg and a rank per row on top of the
// same sort: 0.011–0.014 ms of the fourth query's ~0.14 ms (parse, plan
// and execution, BENCHMARKS.md stop 31).
//
// Only after an encrypted key (an ORDER BY of plaintext keys alone,
// sorted in phiguard for its filters, keeps its rank without a LIMIT and
// runs in plain rounds with one, sort_rounds_plain.go), only for a
// statement phiguard reads in one round (rounds send their
// own ORDER BY, sort_rounds.go) that keeps every row it reads as one
// row of the result: not DISTINCT, GROUP BY or aggregates (the rank
// takes part in their equality), and only when the run is not sent as
// its value (sort_native.go: a uuid or integer needs no sort in the
// database). The keys are sent as plain rounds send theirs (sentItem:
// a select-list entry by its position) and the hidden columns named
// hiddenAlias; an ORDER BY naming hiddenAlias keeps its window.

// planArrival marks the rank of items' trailing plaintext run for
// arrival order, when the plan allows it.
func (sp *SortPlan) planArrival(items []sortItem) {
	if sp.Rounds != nil || len(sp.Distinct) > 0 || len(sp.Aggregates) > 0 || sp.Grouped || sp.Having != nil ||
		len(sp.Keys) == 0 || namesHidden(items) {
		return
	}
	k := sp.Keys[len(sp.Keys)-1]
	if h := sp.rankOf(k); h != nil && h.from > 0 && h.to == len(items) {
		sp.hidden[k.Value].arrival = true
	}
}

// arrivalRank is the hidden index of the rank sent as a constant, its
// run as the text's ORDER BY, under natives; -1 for none.
func (sp *SortPlan) arrivalRank(natives NativeColumn) int {
	for i, h := range sp.hidden {
		if h.arrival && nativeOf(i, h, natives) == NativeNone {
			return i
		}
	}
	return -1
}

// arrivalRankText is the constant the arrival rank is sent as: every
// row's rank is 0, so phiguard's stable sort keeps their arrival order.
const arrivalRankText = "'0'"

// arrivalOrder is the text's ORDER BY of the arrival rank's run, "" when
// there is none.
func (c *sortCut) arrivalOrder(sp *SortPlan) string {
	if c.arrive < 0 {
		return ""
	}
	h := sp.hidden[c.arrive]
	keys := make([]string, 0, h.to-h.from)
	for i := h.from; i < h.to; i++ {
		keys = append(keys, c.sentItem(sp, i)) // sort_rounds_plain.go
	}
	return " ORDER BY " + strings.Join(keys, ", ")
}

// sentItems is how many ORDER BY items the text has: a round's, or the
// arrival rank's run.
func (c *sortCut) sentItems(sp *SortPlan) int {
	if sp.Rounds != nil {
		return sp.Rounds.Sent
	}
	if c.arrive >= 0 {
		h := sp.hidden[c.arrive]
		return h.to - h.from
	}
	return 0
}

// hiddenNamed: the text has an ORDER BY of the client's items, so its
// hidden columns are named hiddenAlias (namedHidden).
func (c *sortCut) hiddenNamed(sp *SortPlan) bool { return namedHidden(sp) || c.arrive >= 0 }
