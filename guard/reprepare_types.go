package guard

import (
	"encoding/binary"

	"github.com/phiguard/phiguard/internal/pgwire"
)

// The parameter types a re-Parse declares (reprepare.go). PostgreSQL fixes
// a statement's parameter types at its Parse: the ones the client
// declared, the rest inferred from the tables as they were then; it keeps
// them when it re-plans the statement after DDL. phiguard's re-Parse runs
// after the DDL, so a type the client left unspecified (0) would be
// inferred from the changed table (a column moved, or now varchar(4)),
// and a Describe would answer other types than the client was told. A
// client that described the statement taught phiguard the types
// (presentParameterTypes); for one that never does (libpq's PQprepare and
// PQexecPrepared), phiguard describes the statement itself, once, just
// before its first Bind, and keeps the answer.
//
// Why there, and not elsewhere:
//   - Not after each Parse: most clients describe their statements
//     themselves (pgx, pgjdbc), and a Parse is on every client's hot
//     path; the Bind is where phiguard first knows the client did not.
//   - Not before the re-prepare's Close: the statement's guard has failed
//     then, after another session's DDL, and a Describe of a statement
//     with a result (INSERT ... RETURNING) re-analyses phiguard's old
//     text against the changed table (PostgreSQL's
//     exec_describe_statement_message, CachedPlanGetTargetList), which
//     can fail where the client's text, Parsed anew, would run; the
//     error would end the client's pipeline up to its Sync. And to
//     declare the types in the re-Parse sent with it, phiguard would
//     have to wait for the answer.
//   - Before the Bind, not after it: a Bind that fails (the guard, after
//     DDL between the client's Parse and its first Bind) would make
//     PostgreSQL skip a Describe behind it, and the types would be
//     unknown at the re-prepare that follows.
//
// What the client sees does not change. The answer, ParameterDescription
// then NoData or RowDescription, is kept (expectation.injected). The
// Describe can fail only where the Bind right behind it, of the same
// statement, would fail the same way: the statement does not exist
// (26000), the transaction is aborted and the statement returns rows
// (25P02), or re-analysis of a statement with a result fails after DDL.
// That error is the Bind's (onBackendError hands it to the Bind's
// expectation), and PostgreSQL skips the Bind. Only a Bind that would
// fail for two reasons at once, a parameter PostgreSQL rejects (checked
// before re-analysis) and a re-analysis that fails, gets the second.
//
// The unnamed statement is not described here: clients Parse it anew
// for nearly every execution, and a Describe before each Bind of it
// would cost every such INSERT a message. It is described only once its
// guard failed, just before phiguard's own read (the catalog read before
// its re-Parse, catalog_fresh.go, bindReprepares), outside a transaction
// block (reprepare_unnamed.go). A
// client that Binds it again across DDL inside a transaction block,
// never having described it, gets the types inferred anew.

// typesUnknown: the client's Parse left one of the statement's n
// parameters unspecified, and phiguard has not learned the types
// PostgreSQL fixed for it.
func (r *reprepared) typesUnknown(n int) bool {
	if r.described.Load() != nil {
		return false
	}
	if len(r.oids) < n {
		return true
	}
	for _, oid := range r.oids[:n] {
		if oid == 0 {
			return true
		}
	}
	return false
}

// describeForTypes returns a Describe of the named statement a Bind names
// when phiguard may have to prepare it again and does not know its
// parameter types (nil otherwise), and queues its expectation, whose
// answer phiguard keeps. Client pump, before the Bind's expectation.
func (s *Session) describeForTypes(name string, bindBody []byte) []byte {
	if name == "" {
		return nil
	}
	st, err := s.boundStatement(name)
	if err != nil || st == nil || st.again == nil || st.clientDescribed || !st.again.typesUnknown(bindParamCount(bindBody)) {
		return nil // onBind reports a malformed Bind or a lost backend
	}
	x := s.expects.fresh(expDescribeStmt)
	x.name, x.injected = name, true
	s.expects.push(x)
	return pgwire.Frame(pgwire.FeDescribe, append(append([]byte{'S'}, name...), 0))
}

// bindParamCount is the number of parameter values a Bind carries, which
// PostgreSQL requires to be its statement's number of parameters; 0 for
// a malformed Bind (onBind reports it).
func bindParamCount(b []byte) int {
	for range 2 { // portal and statement names
		_, rest, ok := pgwire.Cstring(b)
		if !ok {
			return 0
		}
		b = rest
	}
	if len(b) < 2 {
		return 0
	}
	skip := 2 + 2*int(binary.BigEndian.Uint16(b))
	if len(b) < skip+2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(b[skip:]))
}

// typesDescribeFailed hands the error that answered phiguard's own
// Describe of a statement (describeForTypes) to the Bind behind it, which
// PostgreSQL skips and which would have failed the same way: the Bind's
// expectation is the head after this returns. Backend pump.
func (s *Session) typesDescribeFailed(head *expectation) *expectation {
	if head.kind != expDescribeStmt || !head.injected {
		return head
	}
	s.expects.pop()
	return s.expects.head()
}
