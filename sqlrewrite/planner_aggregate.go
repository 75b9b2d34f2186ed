package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
)

// Proxy-side aggregates (issue 13). The database cannot take the min or
// max of a column by its cells, nor count the distinct values of a
// randomized one, nor count the rows a WHERE phiguard evaluates keeps. A
// top-level SELECT without GROUP BY whose select list holds only
// min(col), max(col), count(col), count(*) and count(DISTINCT col) — and
// needs phiguard for one of them or for its WHERE — is sent with each
// aggregate replaced by its argument (count(*) by 1), so that the
// database returns one row per input row, with the WHERE's hidden
// columns and, for min and max of a text column, its collation probe;
// phiguard folds the rows into the aggregates as they arrive and sends
// one row, described as PostgreSQL describes the aggregates
// (guard/protect_aggregate.go).

// Aggregate is one select-list entry of a statement whose aggregates
// phiguard computes.
type Aggregate struct {
	Func     string // min, max or count
	Distinct bool   // count(DISTINCT col)
	Star     bool   // count(*)
	// Column is the encrypted argument; nil for * or a plaintext column
	// (which only count takes).
	Column *policy.ProtectedColumn
	// Name, OID and Size are the output column as PostgreSQL describes
	// it: the alias or the function's name, the result type (int8 for
	// count, the argument's for min and max, text for varchar) and its
	// length; its type modifier is -1.
	Name string
	OID  uint32
	Size int16
	// Target is the aggregate's select-list entry.
	Target int
	// Collation is the hidden index of the collation probe of a text
	// argument of min or max, Deterministic that of the determinism probe
	// of a text argument of count(DISTINCT); -1 otherwise.
	Collation, Deterministic int
}

func (a Aggregate) String() string {
	arg := "*"
	switch {
	case a.Column != nil:
		arg = a.Column.QualifiedName()
	case !a.Star:
		arg = "plaintext"
	}
	if a.Distinct {
		arg = "DISTINCT " + arg
	}
	return fmt.Sprintf("%s(%s) AS %s", a.Func, arg, a.Name)
}

// aggregateShape reads a select list of min, max and count calls over
// columns (or *), in a statement whose shape phiguard aggregates: nil when
// it is not that.
func (p *planner) aggregateShape(s *pg_query.SelectStmt, sc *scope, top bool) []Aggregate {
	if !top || len(s.GetTargetList()) == 0 || len(s.GetDistinctClause()) > 0 || len(s.GetGroupClause()) > 0 ||
		s.GetHavingClause() != nil || len(s.GetWindowClause()) > 0 || len(s.GetLockingClause()) > 0 ||
		s.GetIntoClause() != nil || len(s.GetSortClause()) > 0 || s.GetLimitCount() != nil || s.GetLimitOffset() != nil {
		return nil
	}
	var aggs []Aggregate
	for i, t := range s.GetTargetList() {
		a, ok := aggregateCall(t.GetResTarget(), sc)
		if !ok {
			return nil
		}
		a.Target = i
		aggs = append(aggs, a)
	}
	return aggs
}

// aggregateShapes reads a select list phiguard may aggregate: the
// aggregates without GROUP BY, or with it (planner_group.go) also the
// entries that are group columns; both nil when it is neither.
func (p *planner) aggregateShapes(s *pg_query.SelectStmt, sc *scope, top bool) ([]Aggregate, []int) {
	if aggs := p.aggregateShape(s, sc, top); aggs != nil {
		return aggs, nil
	}
	return p.groupShape(s, sc, top)
}

// aggregatesInProxy plans the aggregates (and groups) of a shape
// aggregateShapes read when phiguard must compute them: for one of them,
// a randomized group column, or the WHERE's filters. It returns whether
// it did; the select list is planned as usual otherwise.
func (p *planner) aggregatesInProxy(s *pg_query.SelectStmt, sc *scope, aggs []Aggregate, groupKeys []int, filters []filterCand, conjuncts int) bool {
	need := needsProxy(aggs) || len(filters) > 0
	switch {
	case groupKeys != nil && (need || groupNeedsProxy(s, sc, groupKeys) || groupOrderNeedsProxy(s, sc, aggs)):
		p.groupPlan(s, sc, aggs, groupKeys, filters, conjuncts)
	case groupKeys == nil && need:
		p.aggregatePlan(s, aggs, nil, filters, conjuncts)
		p.noteAnalysedFirst(sc)
	default:
		return false
	}
	return true
}

// aggregateCall reads one select-list entry as an Aggregate.
func aggregateCall(t *pg_query.ResTarget, sc *scope) (Aggregate, bool) {
	fc := t.GetVal().GetFuncCall()
	if fc == nil || fc.GetAggFilter() != nil || len(fc.GetAggOrder()) > 0 || fc.GetOver() != nil || fc.GetFuncVariadic() || fc.GetAggWithinGroup() {
		return Aggregate{}, false
	}
	name := funcName(fc)
	name = strings.TrimPrefix(name, "pg_catalog.")
	if name != "min" && name != "max" && name != "count" {
		return Aggregate{}, false
	}
	a := Aggregate{Func: name, Distinct: fc.GetAggDistinct(), Star: fc.GetAggStar(), Name: t.GetName(), Collation: -1,
		Deterministic: -1, OID: policy.OIDInt8, Size: 8}
	if a.Name == "" {
		a.Name = name
	}
	if a.Star {
		return a, name == "count" && len(fc.GetArgs()) == 0
	}
	args := fc.GetArgs()
	if len(args) != 1 || args[0].GetColumnRef() == nil {
		return Aggregate{}, false
	}
	kind, col := sc.resolve(args[0].GetColumnRef())
	switch {
	case kind == refColumn:
		a.Column = col
	case kind != refPlain || name != "count" || a.Distinct:
		return Aggregate{}, false // the database's business, or refused as before
	}
	return a, true
}

// needsProxy: an aggregate the database cannot compute on the cells.
func needsProxy(aggs []Aggregate) bool {
	for _, a := range aggs {
		if a.Column != nil && (a.Func != "count" || a.Distinct && !byCell(a.Column)) {
			return true
		}
	}
	return false
}

// noteAnalysedFirst gives the statement's SortPlan, if it has one, the
// tables its FROM names (SortPlan.analysedFirst).
func (p *planner) noteAnalysedFirst(sc *scope) {
	if p.plan.Sort != nil {
		p.plan.Sort.analysedFirst = fromTables(sc)
	}
}

// aggregatePlan makes the SortPlan of a statement whose aggregates
// phiguard computes, with its WHERE's filters and a GROUP BY's ORDER BY
// items (planner_group.go).
func (p *planner) aggregatePlan(s *pg_query.SelectStmt, aggs []Aggregate, items []sortItem, filters []filterCand, conjuncts int) {
	for i, a := range aggs {
		if a.Column == nil || a.Func == "count" && !a.Distinct {
			continue
		}
		if !pgorder.Sortable(a.Column.Type) {
			p.refuse(a.Column, a.Func+"() on a column of type "+a.Column.Type.Name+" (phiguard does not compare it)")
			return
		}
		if a.Func == "count" {
			continue
		}
		oid, size, ok := minMaxType(a.Column.Type)
		if !ok {
			p.refuse(a.Column, a.Func+"() on a column of type "+a.Column.Type.Name+" (PostgreSQL has no "+a.Func+" for it)")
			return
		}
		aggs[i].OID, aggs[i].Size = oid, size
	}
	sp := p.sortPlan(s, items)
	if sp == nil {
		return
	}
	sp.addFilters(filters, conjuncts, nil)
	add := func(h hiddenColumn) int {
		sp.hidden = append(sp.hidden, h)
		return len(sp.hidden) - 1
	}
	for i, a := range aggs {
		switch {
		case a.Column == nil || !textType(a.Column.Type):
		case a.Func != "count":
			aggs[i].Collation = add(hiddenColumn{kind: hiddenCollation, col: a.Column})
		case a.Distinct:
			aggs[i].Deterministic = add(hiddenColumn{kind: hiddenDeterministic, col: a.Column})
		}
	}
	var cols []*policy.ProtectedColumn
	for _, a := range aggs {
		if a.Column != nil {
			cols = append(cols, a.Column)
		}
	}
	sp.addShadowProbe(cols, true, "min(), max() or count()", nil, nil) // planner_shadow.go
	sp.Aggregates = aggs
	sp.Hidden = len(sp.hidden)
	if !callsOpaque(s) { // planner_sort_calls.go
		sp.planAggregateRounds() // sort_rounds.go
	}
	p.plan.Sort = sp
}

// minMaxType is the type min and max of a column of type t return, as
// PostgreSQL 15 has them: the same type, text for varchar; none for
// bool, uuid and bytea.
func minMaxType(t policy.LogicalType) (uint32, int16, bool) {
	switch t.OID {
	case policy.OIDVarchar:
		return policy.OIDText, -1, true
	case policy.OIDBool, policy.OIDUUID, policy.OIDBytea:
		return 0, 0, false
	}
	return t.OID, t.Size, true
}

// aggregateString describes the aggregates for golden tests.
func aggregateString(aggs []Aggregate) string {
	var out []string
	for _, a := range aggs {
		out = append(out, a.String())
	}
	return "proxy computes " + strings.Join(out, ", ")
}

// aggregateOfColumn: a select-list entry that is min, max or count of a
// column or *, which the database, sent its argument, computes nothing
// for (planner_filter_select.go).
func aggregateOfColumn(n *pg_query.Node) bool {
	fc := n.GetFuncCall()
	if fc == nil || fc.GetAggFilter() != nil || len(fc.GetAggOrder()) > 0 || fc.GetOver() != nil {
		return false
	}
	switch strings.TrimPrefix(funcName(fc), "pg_catalog.") {
	case "min", "max", "count":
	default:
		return false
	}
	args := fc.GetArgs()
	return fc.GetAggStar() && len(args) == 0 || len(args) == 1 && args[0].GetColumnRef() != nil
}
