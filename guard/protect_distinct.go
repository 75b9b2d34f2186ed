package guard

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
)

// Proxy-side DISTINCT (docs/search.md). A statement whose SortPlan has
// Distinct keys reaches the database without its DISTINCT; phiguard holds
// its rows as for a sort, and before sorting keeps the first row of each
// group of rows equal under the keys: each encrypted select-list entry
// by its decrypted value (internal/pgorder's equality, PostgreSQL's), the
// plaintext entries by the rank PostgreSQL gave them. Two rows of a group
// that print differently (numeric 1.0 and 1.00, float -0 and 0, interval
// '1 mon' and '30 days', a plaintext value equal under its collation but
// not in bytes) fail the statement: PostgreSQL would return whichever row
// its plan met first, which phiguard cannot know.

// rowKeys reads a held row's ORDER BY and DISTINCT keys; shownFields are
// the fields left for decryptDataRow (see readKeys).
func (s *Session) rowKeys(run *sortRun, fields []*resultField, cells, shown [][]byte) ([]sortValue, []sortValue, []*resultField, *pgerr.Error) {
	shownFields, cloned := fields[:len(shown)], false
	keys, shownFields, pe := s.readKeys(run.plan.Keys, fields, cells, shown, shownFields, &cloned, &run.arena)
	if pe != nil || len(run.plan.Distinct) == 0 {
		return keys, nil, shownFields, pe
	}
	dkeys, shownFields, pe := s.readKeys(run.plan.Distinct, fields, cells, shown, shownFields, &cloned, &run.arena)
	return keys, dkeys, shownFields, pe
}

// checkDistinctCollations refuses DISTINCT on an encrypted text column
// whose collation is not deterministic: PostgreSQL may call two values
// of different bytes equal under it.
func (run *sortRun) checkDistinctCollations(hidden [][]byte) *pgerr.Error {
	for _, k := range run.plan.Distinct {
		if k.Collation < 0 {
			continue
		}
		if v := string(hidden[k.Collation]); v == "true" {
			continue
		}
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"DISTINCT on encrypted text column %s under a nondeterministic collation: phiguard compares text by its bytes", k.Column.QualifiedName())
	}
	return nil
}

// checkRankedFields refuses a result whose DISTINCT or GROUP BY ranks a
// column in the database that turns out to be encrypted (one phiguard
// could not tell from the statement, as through a view): the database
// would compare its cells.
func (run *sortRun) checkRankedFields(fields []*resultField, visible int) *pgerr.Error {
	if len(run.plan.Distinct) == 0 {
		return nil
	}
	compared := map[int]bool{}
	for _, k := range run.plan.Distinct {
		if k.Column != nil {
			compared[k.Target] = true
		}
	}
	for _, a := range run.plan.Aggregates {
		compared[a.Target] = true
	}
	for i := 0; i < visible && i < len(fields); i++ {
		if f := fields[i]; f != nil && f.col != nil && !compared[i] {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"DISTINCT or GROUP BY over encrypted column %s, which phiguard cannot tell in the statement (a view, a function): select the table's column", f.col.QualifiedName())
		}
	}
	return nil
}

// distinctRows is the indexes of the held rows the statement keeps, in
// the order they arrived: all of them without DISTINCT, else the first of
// each group of equal rows.
func (run *sortRun) distinctRows() ([]int32, *pgerr.Error) {
	order := slices.Grow(run.order[:0], len(run.rows))[:len(run.rows)]
	for i := range order {
		order[i] = int32(i)
	}
	run.order = order
	if len(run.plan.Distinct) == 0 || len(order) < 2 {
		return order, nil
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := run.compareDistinct(&run.rows[a], &run.rows[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	kept := order[:0:0]
	first := order[0]
	kept = append(kept, first)
	for _, at := range order[1:] {
		if run.compareDistinct(&run.rows[first], &run.rows[at]) != 0 {
			first = at
			kept = append(kept, at)
			continue
		}
		if !sameValues(run.rows[first].values, run.rows[at].values) {
			return nil, pgerr.New(pgerr.FeatureNotSupported,
				"DISTINCT on an encrypted column met two rows PostgreSQL calls equal that print differently (such as numeric 1.0 and 1.00): which one it returns depends on its plan, so phiguard cannot answer as it would")
		}
	}
	slices.Sort(kept)
	return kept, nil
}

// compareDistinct orders two rows by their DISTINCT keys; 0 when they are
// the same row for DISTINCT (NULLs equal).
func (run *sortRun) compareDistinct(a, b *sortedRow) int {
	for i, k := range run.plan.Distinct {
		x, y := a.dkeys[i], b.dkeys[i]
		var c int
		switch {
		case x.null || y.null:
			c = cmpBool(x.null, y.null)
		case k.Column == nil:
			c = cmpInt64(x.rank, y.rank)
		default:
			c = pgorder.Compare(x.key, y.key)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// sameValues: two rows as the client would get them are the same bytes.
func sameValues(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y []byte) bool {
		return (x == nil) == (y == nil) && bytes.Equal(x, y)
	})
}
