// Package sqlrewrite is phiguard's view of SQL text. It parses every
// statement a client sends (a Query message or an extended-protocol Parse)
// with pg_query — PostgreSQL's own grammar compiled in — and reduces the tree
// to what the proxy acts on: the kind of each statement and the tables it
// names, wherever in the tree they hide.
//
// The package is pure: no I/O, no cryptography, no goroutines. That keeps it
// testable with table-driven tests and fuzzable, and keeps the decisions it
// feeds (encryption, policy, audit) reproducible from the SQL text alone.
//
// Parsing costs tens of microseconds of cgo and allocation, so an Analyzer
// keeps a bounded cache keyed by the exact SQL text: a statement an
// application repeats is parsed once, and Bind/Execute never parse at all.
//
// PlanFor (planner*.go, scope.go) decides, under a policy, which literals
// and parameters of a statement must be encrypted and which uses of an
// encrypted column must be refused (docs/design/encryption-path.md). It is
// built and tested but not yet called by the proxy.
//
// In the foundation release the proxy forwards every statement unchanged; a
// statement pg_query cannot parse is still forwarded, so that the backend
// reports its own syntax error in its own words. Later releases rewrite and
// refuse here, and must fail closed instead.
package sqlrewrite
