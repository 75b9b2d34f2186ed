package guard

import (
	"cmp"
	"slices"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Proxy-side GROUP BY (docs/search.md). A statement whose SortPlan is
// Grouped reaches the database without its GROUP BY, its aggregates
// replaced by their arguments; phiguard holds each row its WHERE keeps
// with its group columns presented (the Distinct keys) and its
// aggregates' inputs, and at the end groups the rows as DISTINCT does
// (protect_distinct.go), computes the aggregates per group, and sends one
// row per group, in the order of each group's first row (PostgreSQL's is
// unspecified without ORDER BY).

// groupInputs reads a held row's aggregate inputs, and takes the
// aggregates' cells out of the row, which the client gets computed.
func (s *Session) groupInputs(run *sortRun, fields []*resultField, cells, shown [][]byte, shownFields []*resultField) ([]aggInput, []*resultField, *pgerr.Error) {
	if !run.plan.Grouped {
		return nil, shownFields, nil
	}
	inputs := make([]aggInput, len(run.plan.Aggregates))
	shownFields = slices.Clone(shownFields)
	for i, a := range run.plan.Aggregates {
		in, pe := s.aggInput(a, fields[a.Target], cells[a.Target])
		if pe != nil {
			return nil, nil, pe
		}
		in.plain = slices.Clone(in.plain) // kept past this message
		inputs[i] = in
		shown[a.Target], shownFields[a.Target] = nil, nil
	}
	return inputs, shownFields, nil
}

// groupRows is the held rows' groups, each as its rows' indexes, in the
// order of their first rows.
func (run *sortRun) groupRows() ([][]int32, *pgerr.Error) {
	order := make([]int32, len(run.rows))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := run.compareDistinct(&run.rows[a], &run.rows[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var groups [][]int32
	for i, at := range order {
		if i > 0 && run.compareDistinct(&run.rows[order[i-1]], &run.rows[at]) == 0 {
			g := groups[len(groups)-1]
			if !sameValues(run.rows[g[0]].values, run.rows[at].values) {
				return nil, pgerr.New(pgerr.FeatureNotSupported,
					"GROUP BY on an encrypted column met two rows PostgreSQL calls equal that print differently (such as numeric 1.0 and 1.00): which one it returns depends on its plan, so phiguard cannot answer as it would")
			}
			groups[len(groups)-1] = append(g, at)
			continue
		}
		groups = append(groups, []int32{at})
	}
	slices.SortFunc(groups, func(a, b []int32) int { return cmp.Compare(a[0], b[0]) })
	return groups, nil
}

// flushGrouped sends one row per group (or its Execute's portion of
// them, portions.go) and SELECT n; it returns the tag for the record,
// nil when the statement failed instead.
func (s *Session) flushGrouped(head *expectation) ([]byte, error) {
	run := head.sort
	groups, pe := run.groupRows()
	if pe != nil {
		return nil, s.failSort(head, pe)
	}
	head.sort = nil
	rows := make([][][]byte, 0, len(groups))
	sorted := make([]sortedRow, 0, len(groups)) // a group's sort keys
	for _, g := range groups {
		values := slices.Clone(run.rows[g[0]].values)
		key := sortedRow{keys: run.rows[g[0]].keys} // a group column's, the same in each of its rows
		states := make([]aggState, len(run.plan.Aggregates))
		for i, a := range run.plan.Aggregates {
			st := &states[i]
			if i < len(run.aggs) {
				st.order = run.aggs[i].order // min's and max's collation (checkAggregateCollations)
			}
			for _, at := range g {
				if pe := st.fold(run, a, run.rows[at].inputs[i]); pe != nil {
					return nil, s.failSort(head, pe)
				}
			}
			v, pe := s.aggregateValue(a, st, s.resultFormat(head, a.Target))
			if pe != nil {
				return nil, s.failSort(head, pe)
			}
			values[a.Target] = v
		}
		keep, pe := havingKeeps(run, &run.rows[g[0]], states) // protect_having.go
		if pe != nil {
			return nil, s.failSort(head, pe)
		}
		if !keep {
			continue
		}
		run.aggregateKeys(&key, states)
		rows, sorted = append(rows, values), append(sorted, key)
	}
	rows = cut(run.sortGroups(rows, sorted), run.offset, run.limit)
	// Subject ids are a group column's; an aggregate's value is none.
	subjects := slices.Clone(run.fields)
	for _, a := range run.plan.Aggregates {
		if a.Target < len(subjects) { // none when no row came
			subjects[a.Target] = nil
		}
	}
	return s.serveRows(head, rows, subjects) // portions.go
}

// aggregateKeys sets a group's keys that are its aggregates (a GROUP BY's
// ORDER BY count(*) or min(col)) from their states.
func (run *sortRun) aggregateKeys(g *sortedRow, states []aggState) {
	if !slices.ContainsFunc(run.plan.Keys, func(k sqlrewrite.SortKey) bool { return k.Agg > 0 }) {
		return
	}
	g.keys = slices.Clone(g.keys)
	for i, k := range run.plan.Keys {
		if k.Agg == 0 {
			continue
		}
		a, st := run.plan.Aggregates[k.Agg-1], &states[k.Agg-1]
		switch {
		case a.Func == "count" && a.Distinct:
			g.keys[i] = sortValue{rank: distinctCount(st.keys)}
		case a.Func == "count":
			g.keys[i] = sortValue{rank: st.count}
		case !st.seen:
			g.keys[i] = sortValue{null: true}
		default:
			g.keys[i] = sortValue{key: st.best}
		}
	}
}

// sortGroups orders the groups' rows by the ORDER BY, stably: ties keep
// the order of their first rows.
func (run *sortRun) sortGroups(rows [][][]byte, keys []sortedRow) [][][]byte {
	if len(run.plan.Keys) == 0 {
		return rows
	}
	order := make([]int32, len(rows))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := run.compareRows(&keys[a], &keys[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	out := make([][][]byte, len(rows))
	for i, at := range order {
		out[i] = rows[at]
	}
	return out
}
