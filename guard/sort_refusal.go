package guard

// What a refusal of a statement phiguard evaluates itself says of it.

// construct names what phiguard evaluates for the statement, for a
// refusal.
func (run *sortRun) construct() string {
	sp := run.plan
	switch {
	case len(sp.Aggregates) > 0:
		return "an aggregate"
	case len(sp.Distinct) > 0 && sp.Grouped:
		return "GROUP BY"
	case len(sp.Distinct) > 0:
		return "DISTINCT"
	case len(sp.Filters) > 0:
		return "WHERE"
	}
	return "ORDER BY"
}

// firstColumn is an encrypted column the statement's plan evaluates, for
// a refusal.
func (run *sortRun) firstColumn() string {
	for _, k := range run.plan.Keys {
		if k.Column != nil {
			return k.Column.QualifiedName()
		}
	}
	if len(run.plan.Filters) > 0 {
		return run.plan.Filters[0].Column.QualifiedName()
	}
	for _, a := range run.plan.Aggregates {
		if a.Column != nil {
			return a.Column.QualifiedName()
		}
	}
	for _, k := range run.plan.Distinct {
		if k.Column != nil {
			return k.Column.QualifiedName()
		}
	}
	return "?"
}
