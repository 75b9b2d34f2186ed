package sqlrewrite

import (
	"github.com/phiguard/phiguard/policy"
)

// RelationKind is what a name in a FROM clause turns out to be in the
// database.
type RelationKind uint8

const (
	// RelationUnknown: no relation of that name is known (it may be created
	// later, or live in a schema phiguard did not read). Refused for a role
	// with rules.
	RelationUnknown RelationKind = iota
	// RelationTable is an ordinary or partitioned table (relkind r or p).
	RelationTable
	// RelationOther is a view, materialized view, foreign table, sequence,
	// a partition or inheritance child (reading it directly would bypass
	// a rule on its parent), or anything else whose content phiguard
	// cannot see through. Refused for a role with rules.
	RelationOther
)

// Objects is what the access rewriter must know of the database's own
// objects. The proxy reads it from the catalog at session start (and after
// DDL); it must be safe for concurrent use.
type Objects interface {
	// RelationKind says what schema.name is. With schema "" the name is
	// unqualified: the answer must hold for every relation of that name in
	// any schema (RelationOther if any one of them is not a table,
	// RelationUnknown if there is none).
	RelationKind(schema, name string) RelationKind
	// Columns lists the columns of a table in order (attnum order,
	// dropped ones left out); ok is false when the table is unknown. With
	// schema "" the name is unqualified and the answer is the columns of
	// the single table of that name, or ok false when there are several.
	Columns(schema, name string) (columns []string, ok bool)
	// ColumnType is a column's type as format_type(atttypid, atttypmod)
	// writes it ("uuid", "character varying(64)"), for the casts of a
	// write check; ok is false when the column is unknown. schema "" as
	// for Columns.
	ColumnType(schema, table, column string) (typ string, ok bool)
	// RelationSchemas lists the schemas that hold a relation of this name
	// (temporary schemas included, as pg_temp_N); row rules are bound to
	// one of them (access_rulenames.go).
	RelationSchemas(name string) []string
	// FunctionSafe says whether a function (schema "" when unqualified)
	// is a built-in that cannot run SQL given as text, read or write server
	// files, change settings or write: an immutable or stable function of
	// pg_catalog, not on phiguard's deny list, and not shadowed by a
	// function of the same name in another schema.
	FunctionSafe(schema, name string) bool
	// OperatorSafe says the same of an operator.
	OperatorSafe(schema, name string) bool
	// Version changes whenever the answers may change; rewrites cached
	// under one version never serve another.
	Version() string
}

// Decision is one access rule applied to a statement, for the audit and for
// `phiguard explain`.
type Decision struct {
	// Table is schema.table; Column is set for a column rule.
	Table  string
	Column string
	// Rule names the rule (policy.RowRule.Name, policy.ColumnRule.Name, or
	// "ROLE: statements").
	Rule string
	// Effect says what the rule did: "rows filtered", "row check",
	// "masked", "pseudonym", "null", "refused".
	Effect string
}

// BreakGlass is a `SET phiguard.break_glass = 'reason'` the role may run.
type BreakGlass struct {
	Reason string
}

// BreakGlassSetting is the session setting that asks for break-glass.
const BreakGlassSetting = "phiguard.break_glass"

// Access is what a role's rules make of one statement text.
type Access struct {
	// SQL is the text to forward: the input with row rules injected, or
	// the input itself when Changed is false.
	SQL     string
	Changed bool
	// Refusal is set when the text must not reach the backend (42501,
	// naming table, column and rule; 42601 when it does not parse).
	Refusal *Refusal
	// Decisions lists the rules applied, in order.
	Decisions []Decision
	// BreakGlass is set when the text is a permitted break-glass request;
	// the proxy records it, lifts the session's row rules, and forwards
	// the SET.
	BreakGlass *BreakGlass

	// written is the analysis of SQL, made from the parse that checked
	// the edited text (access_stmt.go), for the caller that made the
	// rewrite; a cached or templated Access has none.
	written *Analysis
}

// Analysis is the analysis of SQL when this rewrite changed the text and
// parsed the result as its check, nil otherwise: the caller then
// analyses SQL itself (Analyzer.AnalyzeWith takes either).
func (acc *Access) Analysis() *Analysis {
	if acc == nil || !acc.Changed || acc.written == nil || acc.written.sql != acc.SQL {
		return nil
	}
	return acc.written
}

// AccessFor applies role's rules to one statement text (its analysis is
// a, which may have been made for another text of the same shape; sql is
// the text itself). breakGlass says the session has lifted its row rules.
// A nil role, or an unrestricted one, leaves the text as it is.
func AccessFor(sql string, a *Analysis, pol *policy.Policy, role *policy.Role, objs Objects, breakGlass bool) *Access {
	if role == nil || role.Unrestricted() {
		return &Access{SQL: sql}
	}
	return rewriteAccess(sql, a, pol, role, objs, breakGlass)
}
