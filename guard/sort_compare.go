package guard

// How the proxy-side sort compares two held rows (protect_sort.go): by
// the plan's keys, in place, each under its column's order (collation.go).

// compareRows orders two held rows by the plan's keys, read in place
// (a key is 64 bytes, and a 2,000-row sort compares each some 20 times).
func (run *sortRun) compareRows(a, b *sortedRow) int {
	for i := range run.plan.Keys {
		k, x, y := &run.plan.Keys[i], &a.keys[i], &b.keys[i]
		var c int
		switch {
		case x.null && y.null:
			continue
		case x.null:
			return nullOrder(k.NullsFirst)
		case y.null:
			return -nullOrder(k.NullsFirst)
		case k.Column == nil && x.keyed: // a uuid (sort_native.go)
			c = x.key.CompareTo(&y.key)
			if k.Desc {
				c = -c
			}
		case k.Column == nil:
			c = cmpInt64(x.rank, y.rank) // a rank's direction is in it
			if k.Agg > 0 && k.Desc {
				c = -c // a count
			}
		default:
			c = run.keyOrder(i).compareAt(&x.key, &y.key)
			if k.Desc {
				c = -c
			}
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// keyOrder is how key i compares: pgorder's order until checkCollations
// set another.
func (run *sortRun) keyOrder(i int) keyOrder {
	if i < len(run.orders) {
		return run.orders[i]
	}
	return keyOrder{}
}

// nullOrder is the order of a row whose key is NULL against one whose
// key is not.
func nullOrder(nullsFirst bool) int {
	if nullsFirst {
		return -1
	}
	return 1
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
