package sqlrewrite

import (
	"fmt"
	"strings"

	"github.com/phiguard/phiguard/policy"
)

// String describes the plan for golden tests.
func (sp *SortPlan) String() string {
	var keys []string
	for _, k := range sp.Keys {
		what := "rank"
		if h := sp.rankOf(k); h != nil && h.native != nil {
			what += " or integer " + h.native.table.String() + "." + h.native.column + directionString(k)
		}
		if k.Agg > 0 {
			what = "aggregate " + sp.Aggregates[k.Agg-1].Name
		}
		if k.Column != nil || k.Agg > 0 {
			if k.Column != nil && k.Agg == 0 {
				what = k.Column.QualifiedName()
			}
			what += directionString(k)
		}
		where := fmt.Sprintf("#%d", k.Value)
		if k.Agg > 0 {
			where = fmt.Sprintf("select-list entry %d", sp.Aggregates[k.Agg-1].Target+1)
		} else if k.Target >= 0 {
			where = fmt.Sprintf("select-list entry %d", k.Target+1)
		}
		keys = append(keys, fmt.Sprintf("%s (%s)", what, where))
	}
	s := "proxy sorts by " + strings.Join(keys, ", ")
	if len(keys) == 0 {
		s = "proxy keeps the database's order"
	}
	if len(sp.Distinct) > 0 && !sp.Grouped {
		s = distinctString(sp.Distinct) + "; " + s
	}
	if len(sp.Aggregates) > 0 || sp.Grouped {
		agg := aggregateString(sp.Aggregates)
		if len(keys) > 0 {
			agg += "; " + s // a GROUP BY's ORDER BY (planner_group.go)
		}
		s = agg
	}
	if sp.Grouped {
		s = strings.Replace(distinctString(sp.Distinct), "removes duplicates", "groups", 1) + "; " + s
	}
	if len(sp.Trees) > 0 {
		s = treesString(sp.Trees) + "; " + s
	}
	if sp.Having != nil {
		s += "; proxy evaluates HAVING " + sp.Having.String()
	}
	if len(sp.Filters) > 0 {
		s = "proxy filters " + filterString(sp.Filters) + "; " + s
	}
	if sp.Limit >= 0 {
		s += fmt.Sprintf(", LIMIT #%d", sp.Limit)
	}
	if sp.Offset >= 0 {
		s += fmt.Sprintf(", OFFSET #%d", sp.Offset)
	}
	s += sp.roundsString() // sort_rounds.go
	return s + fmt.Sprintf("; %d hidden columns", sp.Hidden)
}

// directionString is a key's DESC and NULLS as the plan keeps them,
// each written only when it is not the default.
func directionString(k SortKey) string {
	s := ""
	if k.Desc {
		s = " DESC"
	}
	if k.NullsFirst != k.Desc {
		s += map[bool]string{true: " NULLS FIRST", false: " NULLS LAST"}[k.NullsFirst]
	}
	return s
}

// ColumnNames lists the encrypted columns the plan sorts, filters or
// aggregates by, each once, in the order met: what a refusal of the
// statement names (the standard is a SQLSTATE naming table, column and
// construct, and a rewrite that fails has no column of its own).
func (sp *SortPlan) ColumnNames() string {
	var names []string
	add := func(c *policy.ProtectedColumn) {
		if c == nil {
			return
		}
		name := c.QualifiedName()
		for _, n := range names {
			if n == name {
				return
			}
		}
		names = append(names, name)
	}
	for _, k := range sp.Keys {
		add(k.Column)
	}
	for _, f := range sp.Filters {
		add(f.Column)
	}
	for _, a := range sp.Aggregates {
		add(a.Column)
	}
	return strings.Join(names, ", ")
}
