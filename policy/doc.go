// Package policy owns the DBA's YAML policy file: which columns hold PHI and
// how each is encrypted, its Go model, its validation, and the lookups the
// proxy and sqlrewrite make on every statement. docs/policy.md describes the
// file for the DBA; examples/policy.yml is a worked example on the demo
// Synthea schema.
//
// # The file
//
//	version: 1
//	tables:
//	  public.patients:               # schema.table; the schema defaults to public
//	    subject_column: id           # optional: the data subject (patient) of each row
//	    state: encrypting            # optional default for the columns: encrypting | encrypted
//	    columns:
//	      ssn:       {mode: deterministic, key: patients-ssn, type: text}
//	      birthdate: {mode: randomized,    key: patients-pii, type: date, state: encrypted}
//
// Names are read as PostgreSQL reads identifiers in SQL: unquoted parts fold
// to lower case (Patients.SSN is public.patients.ssn), double-quoted parts
// keep their case ('"Billing"."Claims"'). After loading, every table is
// schema-qualified and every name is exactly what pg_namespace, pg_class and
// pg_attribute hold, so the lookups need no folding and no allocation.
//
// # Loading and validation
//
// Load refuses what cannot be read as a policy: YAML syntax, unknown or
// repeated keys, a list where a map belongs, a missing or unknown version.
// Unknown keys are errors on purpose: a rule written for a newer phiguard
// (roles, row rules) must never be silently dropped by an older one, since
// that would fail open. Validate then reports every remaining problem at
// once, each with its key path (tables[public.patients].columns[ssn].mode)
// and line. CheckCatalog compares a validated policy with a snapshot of the
// live catalog (package policy/pgcatalog reads one with pgx), so `phiguard
// check --catalog` can say that a table or column does not exist or that a
// column's type cannot hold cells.
//
// # Roles
//
// `roles:` binds roles to database users and certificate subjects, each
// with column rules (plaintext, masked, pseudonym, null, deny), row rules
// (an SQL condition, like an RLS USING clause; the tables a rule reads are
// read-only for the role unless `writes_rule_tables` says otherwise),
// statement classes, a function allow-list and break-glass; `default_role`
// (or a built-in one that denies PHI) covers everyone else. docs/policy.md
// describes them. `subject_column` names each row's patient, for
// crypto-shredding and the audit's per-subject accounting; `state:
// encrypted` marks a column whose backfill is done. `search`,
// `search_key_version` and `search_state` (search.go) declare a column's
// database-side search terms (docs/design/search-terms.md §3); they are
// validated against the column's type and mode and accepted; the proxy's
// writes carry the terms, and with `search_state: ready` the proxy's =,
// ranges and BETWEEN search through them; with `rekeying` (a change of
// search_key_version under way) = and IN search through every loaded
// version's equality terms and the rest runs proxy-side. A
// change that would
// alter the meaning of an existing key bumps `version`.
//
// # Dependencies
//
// policy imports no SQL parser and nothing of the wire: sqlrewrite depends
// on its types only, and the guard on its lookups. A row rule's
// expression is read when the file is, by the RowExpressions the loader
// is given (LoadWith; sqlrewrite.LoadPolicy gives phiguard's): it checks
// the expression and lists the tables it reads (RowRule.Reads, which make
// those tables read-only for the role). Load gives none, so a file with
// row rules loaded by it fails Validate: no rule goes unchecked. A rule
// whose expression was not read, or was refused, admits no rows (its
// Using is "false"), so that a caller that used such a policy despite
// Validate would show too little, never every row. Version
// identifies the loaded content; caches key on it so that they never mix
// two policies.
package policy
