package sqlrewrite

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// A write into a text column with order or match terms computes them
// under the column's collation as the session's catalog read it
// (guard/protect_terms.go). Another session's ALTER COLUMN ... TYPE text
// COLLATE "C" rewrites no row and is not seen by this session's catalog
// until it reads it again, so its writes would store terms of the old
// collation that a later search under the new one trusts
// (integration.TestSearchTermsAfterConcurrentCollationChange).
//
// GuardTermCollations makes the statement check, as it runs, that each
// such column still has the collation the terms were computed under:
// the value written into the first such column (of an INSERT ...
// VALUES' first row that has one, or an UPDATE's SET) is wrapped in a
// CASE that hands it on while the column, as a field of its table's row
// type, has that collation (pg_collation_for((CAST(NULL AS t)).c): no
// table read, so no SELECT privilege, and no subquery to plan), and
// raises otherwise. PostgreSQL resolves the field's collation from its
// catalog as it is once the statement holds its table's lock (taken
// when it analyses the statement's target, before the values), and
// analyses a prepared statement again after DDL on the table; so an
// ALTER either committed before the statement's analysis and the check
// sees it, or waits for the statement's end, in every isolation level.
// The raise's message holds collationGuardMarker and the column's name;
// the proxy answers CollationChangedRefusal (40001: nothing was written,
// run it again) and reads its catalog again. A COPY ... FROM STDIN gets
// the check first in its WHERE, on the column itself, once per row.
//
// Not covered (the terms are then the catalog's, as before): shapes with
// no such value to wrap (UPDATE ... SET (a, b) = (...), INSERT ...
// SELECT, an ON CONFLICT ... DO UPDATE SET of such a column that the
// VALUES do not write, several statements in one Query).

// CollationCheck is one column whose terms a write computes under
// Collation (an OID, as the catalog read pg_attribute.attcollation).
type CollationCheck struct {
	Column    *policy.ProtectedColumn
	Collation uint32
}

// collationGuardMarker is in the error the collation guard raises.
const collationGuardMarker = "phiguard_collation_changed:"

// CollationChangedRefusal recognises the collation guard's error and
// returns the refusal to send the client instead, naming the column.
func CollationChangedRefusal(message string) (*Refusal, bool) {
	col, ok := markedTable(message, collationGuardMarker)
	if !ok {
		return nil, false
	}
	return &Refusal{Code: pgerr.SerializationFailure, Table: col, Construct: "a write with search terms",
		Message: "the collation of encrypted column " + col + ", whose search terms depend on it, changed since this session read it (DDL in another session): nothing was written; run the statement again"}, true
}

// collationGuard wraps value (text) in the check of each column, each
// raising with its own column's name.
func collationGuard(value string, checks []CollationCheck) string {
	out := "(" + value + ")"
	for i := len(checks) - 1; i >= 0; i-- {
		c := checks[i]
		rel := policy.QuoteIdentifier(c.Column.Table.Name.Schema) + "." + policy.QuoteIdentifier(c.Column.Table.Name.Name)
		out = "CASE WHEN " + collationIs("(CAST(NULL AS "+rel+"))."+policy.QuoteIdentifier(c.Column.Name), c) +
			" THEN " + out + " ELSE " + collationRaise(c) + " END"
	}
	return out
}

// collationIs is true while expr (the column, or a field of its table's
// row type) has c's collation. pg_collation_for is stable: PostgreSQL
// evaluates it as the statement runs, never at plan time.
func collationIs(expr string, c CollationCheck) string {
	return "CAST(CAST(pg_catalog.pg_collation_for(" + expr + ") AS pg_catalog.regcollation) AS pg_catalog.oid) OPERATOR(pg_catalog.=) " +
		strconv.FormatUint(uint64(c.Collation), 10) + "::pg_catalog.oid"
}

// collationRaise is a text expression that fails naming c's column:
// current_setting of a name no setting has (stable, so only evaluated
// when reached).
func collationRaise(c CollationCheck) string {
	return "pg_catalog.current_setting(" + sqlString(collationGuardMarker+c.Column.QualifiedName()) + ")"
}

// GuardTermCollations adds the check of checks (all of one table, the
// statement's) to sql, an INSERT ... VALUES or UPDATE writing them; sql
// comes back as it is when it has no value of theirs to wrap.
func GuardTermCollations(sql string, checks []CollationCheck) string {
	if len(checks) == 0 {
		return sql
	}
	listed := func(name string) bool {
		for _, c := range checks {
			if c.Column.Name == name {
				return true
			}
		}
		return false
	}
	if out, ok := wrapWrittenValue(sql, listed, func(v string) string { return collationGuard(v, checks) }); ok {
		return out
	}
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.GetStmts()) != 1 {
		return sql
	}
	if cp := tree.GetStmts()[0].GetStmt().GetCopyStmt(); cp != nil && cp.GetIsFrom() {
		if out, ok := guardCopyWith(sql, copyCollationCheck(checks)); ok {
			return out
		}
	}
	return sql
}

// setValueSpan is the span of the value of the SET item that starts at
// from (its column name): from the token after its "=" to the last token
// before the next "," at its depth, or FROM, WHERE or RETURNING, or the
// statement's end.
func setValueSpan(sql string, from int) ([2]int, bool) {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return [2]int{}, false
	}
	span, depth, eq, prev := [2]int{-1, -1}, 0, false, ""
	for _, tok := range res.GetTokens() {
		start, end := int(tok.GetStart()), int(tok.GetEnd())
		if start < from || isComment(tok) {
			continue
		}
		text := sql[start:end]
		if !eq {
			eq = text == "="
			continue
		}
		switch {
		case text == "(" || text == "[":
			depth++
		case text == ")" || text == "]":
			depth--
		}
		// IS DISTINCT FROM is the value's own FROM.
		fromClause := strings.EqualFold(text, "FROM") && !strings.EqualFold(prev, "DISTINCT")
		prev = text
		if depth < 0 || depth == 0 && (text == "," || text == ";" || fromClause ||
			strings.EqualFold(text, "WHERE") || strings.EqualFold(text, "RETURNING")) {
			break
		}
		if span[0] < 0 {
			span[0] = start
		}
		span[1] = end
	}
	return span, span[0] >= 0
}

// copyCollationCheck is the check as a COPY FROM's WHERE can hold it.
func copyCollationCheck(checks []CollationCheck) string {
	out := "true"
	for i := len(checks) - 1; i >= 0; i-- {
		c := checks[i]
		out = "CASE WHEN " + collationIs(policy.QuoteIdentifier(c.Column.Name), c) + " THEN " + out + " ELSE " + collationRaise(c) + "::pg_catalog.bool END"
	}
	return out
}
