// Package pgerr is phiguard's one SQLSTATE vocabulary and its one error
// type: every error phiguard raises itself, whichever package decides it
// (the access rewriter, the encryption planner, the proxy, the audit
// trail, the backfill), carries a Code from this list and reaches a client
// as a PostgreSQL ErrorResponse built by Error.Encode.
//
// It sits below every package that raises errors and imports nothing of
// phiguard, so the rewriter and the proxy share it without importing each
// other.
package pgerr
