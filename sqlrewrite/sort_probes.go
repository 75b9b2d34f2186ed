package sqlrewrite

import (
	"slices"

	"github.com/phiguard/phiguard/policy"
)

// The collation probe of a sorted read's hidden columns (sort_rewrite.go
// writes them), and which tables the statement has PostgreSQL lock before
// its select list.

// collationProbe is a scalar subquery giving the OID of col's column's
// collation, as text. The proxy reads what that collation is (provider,
// version, locale) from its session catalog (guard/collation.go), which
// reads every collation of a protected column at login: resolving one
// collation costs PostgreSQL little to plan, where the collation's
// description, joined here, cost 0.1-0.3 ms of planning per execution of
// a statement planned for its parameters. PostgreSQL runs it once per
// statement.
//
// The collation is the one PostgreSQL resolves when it analyses the
// statement, from the catalog as it is once the table is locked, as the
// plaintext statement's would be; a read of pg_attribute would see the
// catalog as of the statement's snapshot, which in REPEATABLE READ
// predates another session's ALTER COLUMN ... COLLATE that the plaintext
// statement follows. Two forms give it:
//
//   - analysed (the statement's WITH or FROM names col's table, so
//     PostgreSQL has locked it, and taken in every committed change to
//     its columns, before it reaches the select list): the column of the
//     table's row type, (CAST(NULL AS t)).col, which plans as a constant
//     (0.01 ms against 0.05 ms for the other form, bench-search's
//     fourth query);
//   - otherwise pg_collation_for of a column reference that reads no
//     row, which locks the table itself but is planned as a scan of it.
func collationProbe(col *policy.ProtectedColumn, analysed bool) string {
	rel := policy.QuoteIdentifier(col.Table.Name.Schema) + "." + policy.QuoteIdentifier(col.Table.Name.Name)
	ref := "(SELECT c." + policy.QuoteIdentifier(col.Name) + " FROM " + rel + " c LIMIT 0)"
	if analysed {
		ref = "(CAST(NULL AS " + rel + "))." + policy.QuoteIdentifier(col.Name)
	}
	return "(SELECT CAST(CAST(CAST(pg_catalog.pg_collation_for(" + ref + ") AS pg_catalog.regcollation) AS pg_catalog.oid) AS pg_catalog.text))"
}

// analysedBefore says whether PostgreSQL has locked col's table when it
// reaches the statement's select list (SortPlan.analysedFirst).
func (sp *SortPlan) analysedBefore(col *policy.ProtectedColumn) bool {
	return col != nil && slices.Contains(sp.analysedFirst, col.Table)
}

// fromTables are the protected tables the relations of a query level's
// FROM come from: a table named there, or one whose columns a subquery or
// CTE named there exposes (PostgreSQL analyses, and locks, every table
// of a FROM or WITH before the select list).
func fromTables(sc *scope) []*policy.ProtectedTable {
	var out []*policy.ProtectedTable
	note := func(t *policy.ProtectedTable) {
		if t != nil && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, r := range sc.relations {
		note(r.table)
		for _, c := range r.outputs {
			note(c.Table)
		}
	}
	return out
}
