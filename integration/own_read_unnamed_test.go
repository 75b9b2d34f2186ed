package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// phiguard's own reads at a segment start go as the extended protocol
// under its own names (guard/own_messages.go), so that they leave the
// client's unnamed statement and portal where PostgreSQL keeps them. Each
// sequence is compared with plain PostgreSQL (rv38Compare); the Parse of
// a COPY ... FROM STDIN into the protected table has phiguard read its
// catalog first (freshBeforeCopy), and through phiguard only.

// own40Copy is a Parse of a COPY that has phiguard read its catalog at
// the segment start, and a Sync.
func own40Copy(s rv38Side) []pgproto3.FrontendMessage {
	return []pgproto3.FrontendMessage{&pgproto3.Parse{Name: "own40_copy", Query: fmt.Sprintf("COPY %s (s) FROM STDIN", s.tbl)}, &pgproto3.Sync{}}
}

// own40Unnamed Parses rv38_a as the unnamed statement, types declared
// when oids.
func own40Unnamed(t *testing.T, s rv38Side, oids []uint32) string {
	t.Helper()
	return rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl), ParameterOIDs: oids}, &pgproto3.Sync{})
}

// TestOwnReadKeepsUnnamedAnalysisFails: DDL by another session makes the
// held unnamed statement's text fail its analysis (id renamed) before
// phiguard's read: PostgreSQL still holds the statement, answers its
// Describe from it (no result: no re-analysis), fails its Bind with the
// re-analysis error, and runs it once the column is back.
func TestOwnReadKeepsUnnamedAnalysisFails(t *testing.T) {
	t.Parallel()
	for _, oids := range [][]uint32{nil, {23, 25}} {
		rv38Compare(t, func(s rv38Side) []string {
			out := []string{own40Unnamed(t, s, oids)}
			rv38DDL(t, s, "ALTER TABLE %s RENAME COLUMN id TO id2")
			out = append(out,
				rv38Send(t, s, 1, own40Copy(s)...),
				rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			)
			rv38DDL(t, s, "ALTER TABLE %s RENAME COLUMN id2 TO id")
			return append(out,
				rv38Send(t, s, 1, own40Copy(s)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
				rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
			)
		})
	}
}

// TestOwnReadKeepsUnnamedInTransaction: the read inside a transaction
// block opened by a named statement, then the Bind and Describe of the
// unnamed statement, then the ROLLBACK.
func TestOwnReadKeepsUnnamedInTransaction(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv39PrepareBegin(t, s),
			own40Unnamed(t, s, nil),
			rv38Send(t, s, 1, seq(rv39Begin, rv38Sync)...),
			rv38Send(t, s, 1, own40Copy(s)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, seq(rv39Rollback, rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
		}
	})
}

// TestOwnReadKeepsUnnamedAbortedTransaction: the read in an aborted
// transaction fails (25P02) as the COPY's Parse does; the unnamed
// statement meets 25P02 there and runs after the ROLLBACK.
func TestOwnReadKeepsUnnamedAbortedTransaction(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv39PrepareBegin(t, s),
			own40Unnamed(t, s, nil),
			rv38Send(t, s, 1, seq(rv39Begin, rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Parse{Name: "own40_bad", Query: "SELECT 1/0"}, &pgproto3.Bind{PreparedStatement: "own40_bad"}, &pgproto3.Execute{}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, own40Copy(s)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, seq(rv39Rollback, rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
			rv38Prepared(t, s),
		}
	})
}

// TestOwnReadKeepsUnnamedPipelined: the Parse, the read's segment, the
// Bind and the Describe pipelined, each segment behind one not yet
// answered.
func TestOwnReadKeepsUnnamedPipelined(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		unnamed := []pgproto3.FrontendMessage{&pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{}}
		return []string{
			rv38Send(t, s, 4, seq(unnamed, own40Copy(s), rv38Bind("", ""), rv38Sync, rv39Describe, rv38Sync)...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
		}
	})
}

// TestOwnReadLeavesNothing: a client that never uses its unnamed
// statement again: the reads leave no statement of phiguard's in
// pg_prepared_statements (the backend's list is the client's), and a
// simple Query of the client's drops the unnamed statement as before.
func TestOwnReadLeavesNothing(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			own40Unnamed(t, s, nil),
			rv38Send(t, s, 1, own40Copy(s)...),
			rv38Send(t, s, 1, &pgproto3.Close{ObjectType: 'S', Name: "own40_copy"}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, own40Copy(s)...),
			rv38Prepared(t, s),
			rv38Send(t, s, 1, rv38Simple("SELECT 1")...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
		}
	})
}

// TestOwnReadKeepsUnnamedPortal: in a transaction block the client's
// unnamed portal, suspended after one row, outlives the read (a simple
// Query would have dropped it: 34000) and gives the rest.
func TestOwnReadKeepsUnnamedPortal(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv39PrepareBegin(t, s),
			rv38Send(t, s, 1, seq(rv39Begin, rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Parse{Query: "SELECT g FROM generate_series(1, 3) g"},
				&pgproto3.Bind{}, &pgproto3.Execute{MaxRows: 1}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, own40Copy(s)...),
			rv38Send(t, s, 1, &pgproto3.Execute{}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, seq(rv39Rollback, rv38Sync)...),
		}
	})
}

// TestOwnReadClosesCursorOfItsName: a client's cursor or portal named as
// phiguard's read portal would be closed by the next read (34000 where
// PostgreSQL FETCHes from it): phiguard refuses the DECLARE and the Bind
// (0A000), in any case of the name, and the cursor is not made.
func TestOwnReadClosesCursorOfItsName(t *testing.T) {
	t.Parallel()
	s := rv38Sides(t)[1]
	steps := []struct {
		msgs []pgproto3.FrontendMessage
		want string
	}{
		{rv38Simple("BEGIN; DECLARE phiguard_plan_read CURSOR FOR SELECT 1"), "error 0A000, ready I"},
		{rv38Simple("BEGIN; DECLARE PHIGUARD_PLAN_READ CURSOR WITH HOLD FOR SELECT 1"), "error 0A000, ready I"},
		{[]pgproto3.FrontendMessage{&pgproto3.Parse{Query: "DECLARE \"phiguard_plan_read\" CURSOR WITH HOLD FOR SELECT 1"}, &pgproto3.Sync{}}, "error 0A000, ready I"},
		{[]pgproto3.FrontendMessage{&pgproto3.Parse{Name: "own40_one", Query: "SELECT 1"}, &pgproto3.Bind{DestinationPortal: "phiguard_plan_read", PreparedStatement: "own40_one"}, &pgproto3.Sync{}}, "parsed, error 0A000, ready I"},
		{own40Copy(s), "parsed, ready I"},
		{rv38Simple("BEGIN; DECLARE phiguard_plan_read2 CURSOR FOR SELECT 1; FETCH phiguard_plan_read2; ROLLBACK"), "BEGIN, DECLARE CURSOR, rowdesc1, row, FETCH 1, ROLLBACK, ready I"},
	}
	for i, st := range steps {
		if got := rv38Send(t, s, 1, st.msgs...); got != st.want {
			t.Errorf("step %d: %s, want %s", i+1, got, st.want)
		}
	}
}
