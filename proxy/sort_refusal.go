package proxy

import (
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
)

// What a refusal of a statement phiguard evaluates itself says of it.

// sortedExecute refuses an Execute with a row limit of a statement sorted
// in the proxy: its rows come out only after all are read, and phiguard
// does not emulate PortalSuspended.
func sortedExecute(body []byte, run *sortRun) *pgerr.Error {
	_, rest, ok := cstring(body)
	if !ok || len(rest) < 4 {
		return pgerr.New(pgerr.ProtocolViolation, "malformed Execute message")
	}
	if n := int32(rest[0])<<24 | int32(rest[1])<<16 | int32(rest[2])<<8 | int32(rest[3]); n > 0 {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"%s on encrypted column %s is evaluated in phiguard, which cannot fetch its rows in portions (Execute with a row limit, a fetch size, a cursor): fetch all rows at once", run.construct(), run.firstColumn())
	}
	return nil
}

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

// portalRun is one Bind of a portal, which PostgreSQL runs to its end
// once: an Execute with a row limit of a statement phiguard sorts is
// refused, and a portal that failed cannot run again. Its later Executes
// return no row and SELECT 0, where an aggregate phiguard computes would
// answer one row over no input (count 0, NULL): a different answer.
type portalRun struct {
	// ended: an Execute of it completed (its CommandComplete reached
	// flushSorted; backend pump).
	ended atomic.Bool
}

// noteExecuted gives an Execute's sortRun its portal's run. Client pump.
func (s *session) noteExecuted(x *expectation) {
	if x.sort != nil {
		x.sort.portal = s.portalRuns[x.name]
	}
}

// flushExhausted ends an Execute of a portal that ran to its end as
// PostgreSQL does: no row (the backend sends none), SELECT 0. Backend
// pump.
func (s *session) flushExhausted(head *expectation) ([]byte, error) {
	head.sort = nil
	tag := []byte("SELECT 0")
	buf, err := (&pgproto3.CommandComplete{CommandTag: tag}).Encode(nil)
	if err != nil {
		return nil, err
	}
	_, err = s.cw.Write(buf)
	return tag, err
}
