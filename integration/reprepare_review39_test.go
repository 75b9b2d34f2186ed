package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Review 39 of the unnamed statement's re-prepare
// (guard/reprepare_unnamed.go): sequences compared with plain PostgreSQL
// as in reprepare_trial_test.go.

// rv39Unprepared Parses the unnamed statement (RETURNING s when ret,
// parameter types declared when oids), makes id a date and binds it
// once: PostgreSQL and phiguard's re-Parse both fail it (42804), and the
// backend behind phiguard holds no unnamed statement.
func rv39Unprepared(t *testing.T, s rv38Side, ret bool, oids []uint32) []string {
	t.Helper()
	q := fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)
	if ret {
		q += " RETURNING s"
	}
	out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: q, ParameterOIDs: oids}, &pgproto3.Sync{})}
	rv38Dated(t, s, "")
	return append(out, rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...))
}

var (
	rv39Describe = []pgproto3.FrontendMessage{&pgproto3.Describe{ObjectType: 'S'}}
	rv39Close    = []pgproto3.FrontendMessage{&pgproto3.Close{ObjectType: 'S'}}
	rv39Begin    = []pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "rv39_begin"}, &pgproto3.Execute{}}
	rv39Rollback = []pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "rv39_rollback"}, &pgproto3.Execute{}}
)

// rv39PrepareBegin prepares BEGIN under a name, so that a transaction
// block opens without a simple Query (which drops the unnamed statement).
func rv39PrepareBegin(t *testing.T, s rv38Side) string {
	t.Helper()
	return rv38Send(t, s, 1, &pgproto3.Parse{Name: "rv39_begin", Query: "BEGIN"}, &pgproto3.Parse{Name: "rv39_rollback", Query: "ROLLBACK"}, &pgproto3.Sync{})
}

// TestReview39ReturningPipelined: a Describe of a statement with a result
// pipelined behind a segment not yet answered, after its re-Parse
// failed: PostgreSQL answers its types, then the re-analysis error.
func TestReview39ReturningPipelined(t *testing.T) {
	t.Parallel()
	for _, oids := range [][]uint32{nil, {23, 25}} {
		rv38Compare(t, func(s rv38Side) []string {
			out := rv39Unprepared(t, s, true, oids)
			return append(out,
				rv38Send(t, s, 2, seq(rv38Bind("", ""), rv38Sync, rv39Describe, rv38Sync)...),
				rv38Send(t, s, 2, seq(rv39Describe, rv38Sync, rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv39Describe, rv39Describe, rv38Sync)...),
			)
		})
	}
	// In a transaction block the Bind aborts ahead of the Describe:
	// PostgreSQL answers 25P02 before the types.
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv39PrepareBegin(t, s)}
		out = append(out, rv39Unprepared(t, s, true, nil)...)
		return append(out,
			rv38Send(t, s, 3, seq(rv39Begin, rv38Sync, rv38Bind("", ""), rv38Sync, rv39Describe, rv38Sync)...),
			rv38Send(t, s, 2, seq(rv39Describe, rv38Sync, rv39Rollback, rv39Describe, rv38Sync)...),
		)
	})
}

// TestReview39ClosedThenDescribed: the client closes the unnamed
// statement after its re-Parse failed: a Describe or Bind of it then
// finds none (26000), in the same segment or the next.
func TestReview39ClosedThenDescribed(t *testing.T) {
	t.Parallel()
	for _, ret := range []bool{false, true} {
		rv38Compare(t, func(s rv38Side) []string {
			out := rv39Unprepared(t, s, ret, nil)
			return append(out,
				rv38Send(t, s, 1, seq(rv39Close, rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			)
		})
		rv38Compare(t, func(s rv38Side) []string {
			out := rv39Unprepared(t, s, ret, nil)
			return append(out,
				rv38Send(t, s, 1, seq(rv39Close, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			)
		})
	}
}

// TestReview39InTransaction: after the failed re-Parse, a transaction
// block opened by a named statement; the Describe, the Bind (42804
// aborts it) and the Describe in the aborted transaction.
func TestReview39InTransaction(t *testing.T) {
	t.Parallel()
	for _, ret := range []bool{false, true} {
		rv38Compare(t, func(s rv38Side) []string {
			out := []string{rv39PrepareBegin(t, s)}
			out = append(out, rv39Unprepared(t, s, ret, nil)...)
			return append(out,
				rv38Send(t, s, 1, seq(rv39Begin, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
				rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
				rv38Send(t, s, 1, &pgproto3.Bind{PreparedStatement: "rv39_rollback"}, &pgproto3.Execute{}, &pgproto3.Sync{}),
				rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			)
		})
	}
}

// TestReview39GuardFailsTwice: the unnamed statement, types left to
// PostgreSQL, fails its guard, is prepared again and runs, then id
// becomes a date: PostgreSQL keeps $1 an integer (42804).
func TestReview39GuardFailsTwice(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{})}
		rv38Stale(t, s, "")
		out = append(out, rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...))
		rv38DDL(t, s, "ALTER TABLE %[1]s DROP CONSTRAINT %[1]s_c, ALTER COLUMN id TYPE date USING DATE '2000-01-01'")
		return append(out,
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
		)
	})
}

// TestReview39FlushThenSync: after the guard failure, the client's next
// segment goes by Flush before its Sync (phiguard's Describe and Sync go
// before it, at the segment's start).
func TestReview39FlushThenSync(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{})}
		rv38Dated(t, s, "")
		return append(out,
			rv38Send(t, s, 0, seq(rv38Bind("", ""), rv38Flush)...),
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
			rv38Send(t, s, 0, seq(rv39Describe, rv38Bind("rv38_s", ""), rv38Flush)...),
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
		)
	})
}

// TestReview39ParseOtherFirst: after the guard failure the client's next
// segment Parses another statement (phiguard reads the catalog, its
// Describe in front), then binds the unnamed statement.
func TestReview39ParseOtherFirst(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{})}
		rv38Dated(t, s, "")
		return append(out,
			rv38Send(t, s, 1, &pgproto3.Parse{Name: "rv39_x", Query: "SELECT 1"}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
		)
	})
}

// TestReview39ReadDropsUnnamed: phiguard reads its catalog before a
// Parse of another statement (INSERT ... SELECT, whose defaults only the
// catalog checks: freshBeforeCopy) while the client's unnamed statement,
// whose guard has not failed, is held, and the client then binds it.
func TestReview39ReadDropsUnnamed(t *testing.T) {
	t.Parallel()
	// Was a HOLE: the read, a simple Query, dropped the backend's unnamed
	// statement: 26000 at the Bind and the Describe where PostgreSQL runs
	// it (INSERT 0 1) and describes it (guard/own_messages.go).
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{})}
		return append(out,
			rv38Send(t, s, 1, &pgproto3.Parse{Name: "rv39_x", Query: fmt.Sprintf("COPY %s (s) FROM STDIN", s.tbl)}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}),
		)
	})
}

// TestReview39RevertedThenDescribed: after the failed re-Parse another
// session makes id an integer again: the Describe re-prepares the
// statement on the catalog phiguard read last (a Describe reads none),
// and the Binds after it run.
func TestReview39RevertedThenDescribed(t *testing.T) {
	t.Parallel()
	for _, ret := range []bool{false, true} {
		rv38Compare(t, func(s rv38Side) []string {
			out := rv39Unprepared(t, s, ret, nil)
			rv38DDL(t, s, "ALTER TABLE %[1]s ALTER COLUMN id TYPE int USING 1")
			return append(out,
				rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
				rv38Send(t, s, 2, seq(rv39Describe, rv38Bind("", ""), rv38Sync, rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
				rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
			)
		})
	}
}

// TestReview39ClientParseAfter: after the failed re-Parse the client
// Parses the unnamed statement again: a failing text drops it (26000 at
// the Describe and Bind after), a good one replaces it.
func TestReview39ClientParseAfter(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"SELEC 1", "SELECT %s FROM nowhere", "SELECT count(*) FROM %s"} {
		rv38Compare(t, func(s rv38Side) []string {
			out := rv39Unprepared(t, s, true, nil)
			q := text
			if text != "SELEC 1" {
				q = fmt.Sprintf(text, s.tbl)
			}
			return append(out,
				rv38Send(t, s, 1, &pgproto3.Parse{Query: q}, &pgproto3.Sync{}),
				rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
				rv38Send(t, s, 1, seq(rv39Describe, []pgproto3.FrontendMessage{&pgproto3.Parse{Query: q}}, rv39Describe, rv38Sync)...),
			)
		})
	}
}

// TestReview39DescribeFirstAfterGuard: after the guard failure (types
// left to PostgreSQL) the client's next segment is its own Describe,
// which reads no catalog; then id becomes a date and it binds.
func TestReview39DescribeFirstAfterGuard(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"]+" RETURNING s", s.tbl)}, &pgproto3.Sync{})}
		rv38Stale(t, s, "")
		out = append(out, rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...))
		rv38DDL(t, s, "ALTER TABLE %[1]s DROP CONSTRAINT %[1]s_c, ALTER COLUMN id TYPE date USING DATE '2000-01-01'")
		return append(out,
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
		)
	})
}

// TestReview39QueryAfterUnprepared: a simple Query after the failed
// re-Parse drops the unnamed statement in PostgreSQL (26000 after).
func TestReview39QueryAfterUnprepared(t *testing.T) {
	t.Parallel()
	for _, ret := range []bool{false, true} {
		rv38Compare(t, func(s rv38Side) []string {
			out := rv39Unprepared(t, s, ret, nil)
			return append(out,
				rv38Send(t, s, 1, rv38Simple("SELECT 1")...),
				rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
				rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
				rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
			)
		})
	}
	// id an integer again: a re-prepare would run the INSERT.
	rv38Compare(t, func(s rv38Side) []string {
		out := rv39Unprepared(t, s, false, nil)
		out = append(out, rv38Send(t, s, 1, &pgproto3.Parse{Query: "SELEC 1"}, &pgproto3.Sync{}))
		rv38DDL(t, s, "ALTER TABLE %[1]s ALTER COLUMN id TYPE int USING 1")
		return append(out,
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
		)
	})
}

// TestReview39DescribeFlush: the Describe after the failed re-Parse
// goes with a Flush, its Sync later; then with a Bind and Execute of
// another statement behind it in the same segment.
func TestReview39DescribeFlush(t *testing.T) {
	t.Parallel()
	for _, ret := range []bool{false, true} {
		rv38Compare(t, func(s rv38Side) []string {
			out := rv39Unprepared(t, s, ret, nil)
			first := rv38Send(t, s, 0, seq(rv39Describe, rv38Bind("rv38_s", ""), rv38Flush)...)
			return append(out, first,
				rv38Send(t, s, 1, rv38Sync...),
				rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv39Describe, rv38Bind("", ""), rv38Sync)...),
				rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
			)
		})
	}
}

// TestReview39UnsettledRead: the guard failed (types left to
// PostgreSQL, never described), id became a date, and the Bind that
// reads the catalog comes behind a Sync not yet answered: phiguard waits
// for its answer, then describes the statement before the read drops it.
func TestReview39UnsettledRead(t *testing.T) {
	t.Parallel()
	// Was a HOLE: 22007 for 42804, then params [1082 25] for [23 25].
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{})}
		rv38Dated(t, s, "")
		return append(out,
			rv38Send(t, s, 2, seq(rv38Sync, rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
		)
	})
}

// TestReview39ResultChanged: a statement with RETURNING * whose guard
// failed, then another session adds a column: PostgreSQL refuses to
// change a prepared statement's result (0A000, cached plan must not
// change result type) and runs nothing.
func TestReview39ResultChanged(t *testing.T) {
	t.Parallel()
	// Was a HOLE: phiguard's re-prepare ran the INSERT (bound, row,
	// INSERT 0 1) with three columns to a client told two, and its
	// Describe answered rowdesc3 for 0A000.
	review39ResultChanged(t, "")
}

// TestReview39ResultChangedNamed: the same for a named statement.
func TestReview39ResultChangedNamed(t *testing.T) {
	t.Skip("HOLE: a named INSERT ... RETURNING * whose guard failed (40001), then another session's ADD COLUMN: PostgreSQL answers the Bind 0A000 (cached plan must not change result type) and runs nothing; phiguard's re-prepare runs the INSERT and sends three columns to a client told two. Describing the old statement first (review 39's fix) failed every re-prepare whose lack probe or qualified name the DDL had made fail (42702, 42703; TestRedTeam37InnerGainsName), so it was taken out")
	t.Parallel()
	review39ResultChanged(t, "rv39_ret")
}

// review39ResultChanged runs the sequence on the statement name.
func review39ResultChanged(t *testing.T, name string) {
	t.Helper()
	rv38Compare(t, func(s rv38Side) []string {
		q := fmt.Sprintf(rv38Statements["rv38_a"]+" RETURNING *", s.tbl)
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Name: name, Query: q}, &pgproto3.Describe{ObjectType: 'S', Name: name}, &pgproto3.Sync{})}
		rv38DDL(t, s, "ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_c CHECK (id > 0)")
		bind := []pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: name, Parameters: rv38Params("rv38_a")}, &pgproto3.Execute{}}
		first := rv38Send(t, s, 1, seq(bind, rv38Sync)...)
		if s.proxied && first != "bound, error 40001, ready I" {
			t.Fatalf("guard: %s", first)
		}
		rv38DDL(t, s, "ALTER TABLE %[1]s ADD COLUMN extra int")
		describe := []pgproto3.FrontendMessage{&pgproto3.Describe{ObjectType: 'S', Name: name}}
		out = append(out,
			rv38Send(t, s, 1, seq(bind, rv38Sync)...),
			rv38Send(t, s, 1, seq(describe, rv38Sync)...),
			rv38Send(t, s, 2, seq(bind, rv38Sync, describe, bind, rv38Sync)...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
		)
		if name == "" {
			return out // the simple Query dropped it
		}
		// The column gone again: the result is the one fixed.
		rv38DDL(t, s, "ALTER TABLE %[1]s DROP COLUMN extra")
		return append(out,
			rv38Send(t, s, 1, seq(describe, bind, rv38Sync)...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...),
		)
	})
}

// TestReview39ResultChangedBack: the unnamed statement's result changed
// (0A000), then the added column is dropped again: PostgreSQL's result
// is the one fixed again and it runs the statement.
func TestReview39ResultChangedBack(t *testing.T) {
	t.Parallel()
	t.Skip("HOLE: phiguard keeps failing the unnamed statement 0A000 once its Describe found the result changed (reprepared.resultChanged), after the column is dropped again too, where PostgreSQL runs it (INSERT 0 1): fails closed")
	rv38Compare(t, func(s rv38Side) []string {
		q := fmt.Sprintf(rv38Statements["rv38_a"]+" RETURNING *", s.tbl)
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: q}, &pgproto3.Sync{})}
		rv38Stale(t, s, "")
		rv38DDL(t, s, "ALTER TABLE %[1]s ADD COLUMN extra int")
		out = append(out, rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...))
		rv38DDL(t, s, "ALTER TABLE %[1]s DROP COLUMN extra")
		return append(out,
			rv38Send(t, s, 1, seq(rv39Describe, rv38Bind("", ""), rv38Sync)...),
		)
	})
}

// TestReview39GuardFailsInTransaction: the guard fails inside a
// transaction block opened and rolled back by named statements (no simple
// Query drops the unnamed statement); id becomes a date; then the Binds.
func TestReview39GuardFailsInTransaction(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv39PrepareBegin(t, s)}
		out = append(out, rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{}))
		rv38DDL(t, s, "ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_c CHECK (id > 0)")
		first := rv38Send(t, s, 1, seq(rv39Begin, rv38Bind("", ""), rv38Sync)...)
		if s.proxied && first != "bound, BEGIN, bound, error 40001, ready E" {
			t.Fatalf("guard: %s", first)
		}
		out = append(out, rv38Send(t, s, 1, seq(rv39Rollback, rv38Sync)...))
		rv38DDL(t, s, "ALTER TABLE %[1]s DROP CONSTRAINT %[1]s_c, ALTER COLUMN id TYPE date USING DATE '2000-01-01'")
		return append(out,
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
			rv38Send(t, s, 2, seq(rv39Begin, rv38Sync, rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv39Describe, rv38Sync)...),
			rv38Send(t, s, 1, seq(rv39Rollback, rv38Sync)...),
		)
	})
}

// TestReview39UndeclaredInTransaction: the guard failed (types left to
// PostgreSQL, never described), id became a date, and the Bind that
// prepares the statement again comes inside a transaction block: no
// Describe goes there (its error would abort the client's transaction).
func TestReview39UndeclaredInTransaction(t *testing.T) {
	t.Parallel()
	t.Skip("HOLE: the documented transaction-block limit of reprepare_unnamed.go: the re-Parse infers $1 a date, 22007 where PostgreSQL answers 42804; a Describe after answers params [1082 25] for [23 25]")
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv39PrepareBegin(t, s)}
		out = append(out, rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl)}, &pgproto3.Sync{}))
		rv38Dated(t, s, "")
		return append(out,
			rv38Send(t, s, 2, seq(rv39Begin, rv38Sync, rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv39Rollback, rv39Describe, rv38Sync)...),
		)
	})
}
