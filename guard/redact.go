package guard

import (
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgwire"
)

// PostgreSQL's errors can carry values: a constraint violation's DETAIL is
// "Failing row contains (...)", the whole row, denied and masked columns
// included; a unique violation's "Key (col)=(...)"; a trigger's CONTEXT
// whatever the trigger printed. For a role with column or row rules those
// fields are replaced before the error reaches the client: the SQLSTATE
// and the message (which names the constraint, table and column, not
// values) stay, so applications still see what went wrong.

// redactedDetail stands in for a removed DETAIL.
const redactedDetail = "phiguard removed the detail and context of this error: they may show values this role may not see"

// redactBackendError rewrites a backend ErrorResponse for a role with
// rules, dropping the fields that can carry row values. It reports whether
// it wrote the message itself.
func (s *Session) redactBackendError(body []byte) (bool, error) {
	if s.restricted() == nil {
		return false, nil
	}
	var er pgproto3.ErrorResponse
	if err := er.Decode(body); err != nil {
		return false, nil // the pump forwards it; it will fail the client's decode the same way
	}
	if er.Detail == "" && er.Where == "" && er.InternalQuery == "" {
		return false, nil
	}
	if er.Detail != "" {
		er.Detail = redactedDetail
	}
	er.Where, er.InternalQuery, er.InternalPosition = "", "", 0
	return s.sendBackendError(&er, body)
}

// sendBackendError sends the client er, the backend's ErrorResponse body
// reworded by phiguard, in its place: false when er does not encode (the
// caller then forwards the backend's own).
func (s *Session) sendBackendError(er *pgproto3.ErrorResponse, body []byte) (bool, error) {
	out, err := er.Encode(nil)
	if err != nil {
		return false, nil
	}
	s.srv.metrics.Errors.WithLabelValues(pgwire.SQLStateClass(body), "backend").Inc()
	_, werr := s.cw.Write(out)
	return true, werr
}
