package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// More of the unnamed statement's re-prepare (guard/reprepare_unnamed.go),
// compared with plain PostgreSQL as in reprepare_trial_test.go.

// TestReprepareUnnamedReturning: a statement with a result, whose
// Describe PostgreSQL answers after analysing it again.
func TestReprepareUnnamedReturning(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		q := fmt.Sprintf(rv38Statements["rv38_a"]+" RETURNING s", s.tbl)
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: q, ParameterOIDs: []uint32{23, 25}}, &pgproto3.Sync{})}
		rv38Dated(t, s, "")
		return append(out,
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
		)
	})
}

// TestReprepareUnnamedDroppedByQuery: a simple Query drops the unnamed
// statement in PostgreSQL, whose Bind then answers 26000; phiguard does
// not prepare it again behind it.
func TestReprepareUnnamedDroppedByQuery(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{})}
		rv38Stale(t, s, "")
		return append(out,
			rv38Send(t, s, 1, rv38Simple("SELECT 1")...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
		)
	})
}

// TestReprepareUnnamedDescribedByClient: the client described the
// statement itself (pgx's describe-exec): its types and result are
// known without phiguard's Describe.
func TestReprepareUnnamedDescribedByClient(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{})}
		rv38Dated(t, s, "")
		return append(out,
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
		)
	})
}

// TestReprepareUnnamedPipelined: the failing Bind, a Describe and the
// Bind again in one write, each segment behind its own Sync, and then in
// one segment (the Describe skipped behind the error, as PostgreSQL
// skips it).
func TestReprepareUnnamedPipelined(t *testing.T) {
	t.Parallel()
	for _, oids := range [][]uint32{nil, {23, 25}} {
		rv38Compare(t, func(s rv38Side) []string {
			q := fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)
			out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: q, ParameterOIDs: oids}, &pgproto3.Sync{})}
			rv38Dated(t, s, "")
			describe := []pgproto3.FrontendMessage{&pgproto3.Describe{ObjectType: 'S'}}
			return append(out,
				rv38Send(t, s, 3, seq(rv38Bind("", ""), rv38Sync, describe, rv38Sync, rv38Bind("", ""), rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), describe, rv38Sync)...),
				rv38Send(t, s, 2, seq(describe, rv38Bind("", ""), rv38Sync, describe, rv38Sync)...),
			)
		})
	}
}
