package proxy

import (
	"cmp"
	"slices"

	"github.com/phiguard/phiguard/internal/pgerr"
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
func (s *session) groupInputs(run *sortRun, fields []*resultField, cells, shown [][]byte, shownFields []*resultField) ([]aggInput, []*resultField, *pgerr.Error) {
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
func (s *session) flushGrouped(head *expectation) ([]byte, error) {
	run := head.sort
	groups, pe := run.groupRows()
	if pe != nil {
		return nil, s.failSort(head, pe)
	}
	head.sort = nil
	rows := make([][][]byte, len(groups))
	for n, g := range groups {
		values := slices.Clone(run.rows[g[0]].values)
		for i, a := range run.plan.Aggregates {
			var st aggState
			for _, at := range g {
				if pe := st.fold(run, a, run.rows[at].inputs[i]); pe != nil {
					return nil, s.failResult(pe)
				}
			}
			v, pe := s.aggregateValue(a, &st, s.resultFormat(head, a.Target))
			if pe != nil {
				return nil, s.failResult(pe)
			}
			values[a.Target] = v
		}
		rows[n] = values
	}
	// Subject ids are a group column's; an aggregate's value is none.
	subjects := slices.Clone(run.fields)
	for _, a := range run.plan.Aggregates {
		if a.Target < len(subjects) { // none when no row came
			subjects[a.Target] = nil
		}
	}
	return s.serveRows(head, rows, subjects) // portions.go
}
