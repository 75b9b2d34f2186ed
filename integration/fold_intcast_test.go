package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestFoldedIntegerCasts: pgjdbc's simple mode writes setLong, setInt and
// setShort as ('5'::int8), ('5'::int4), ('5'::int2), whatever the
// column's type. A constant cast to another integer type, written into an
// encrypted integer or numeric column, is folded like a cast to the
// column's own type, with the range checks PostgreSQL's cast and
// assignment make: out of range of either is 22003, not an integer 22P02.
// In a comparison such a cast stays refused (int4 = int8 is no error in
// PostgreSQL when the value does not fit the column).
func TestFoldedIntegerCasts(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "intcast",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"visits", "integer", "{mode: randomized, key: intcast-pii, type: integer}"},
		twinColumn{"big", "bigint", "{mode: randomized, key: intcast-pii, type: bigint}"},
		twinColumn{"small", "smallint", "{mode: randomized, key: intcast-pii, type: smallint}"},
		twinColumn{"balance", "numeric(12,2)", `{mode: randomized, key: intcast-pii, type: "numeric(12,2)"}`})
	statements := []string{
		"INSERT INTO %s (id, visits, big, small, balance) VALUES (1, ('-2147483648'::int8), ('7'::int4), ('-5'::int8), ('-12'::int8))",
		"INSERT INTO %s (id, visits, big, small, balance) VALUES (2, (' +42 '::int2), ('-9223372036854775808'::int8), ('32767'::int4), ('999999999'::int4))",
		"UPDATE %s SET visits = ('0'::int8), big = CAST('12' AS smallint), balance = 5::bigint WHERE id = 2",
	}
	for _, mode := range bothModes {
		tw.clear(t)
		for _, st := range statements {
			tw.exec(t, st, mode)
		}
		tw.same(t, "SELECT id, visits, big, small, balance FROM %s ORDER BY id", mode, "integer casts")
	}
	failing := []string{
		"INSERT INTO %s (id, visits) VALUES (10, ('2147483648'::int8))",         // fits int8, not the integer column
		"INSERT INTO %s (id, big) VALUES (11, ('40000'::int2))",                 // does not fit the cast
		"INSERT INTO %s (id, small) VALUES (12, ('9223372036854775808'::int8))", // fits neither
		"INSERT INTO %s (id, visits) VALUES (13, ('1.5'::int8))",                // not an integer
		"INSERT INTO %s (id, balance) VALUES (14, ('x'::int4))",
	}
	for _, mode := range bothModes {
		for _, st := range failing {
			want := sqlstate(t, tw.dir, fmt.Sprintf(st, tw.plain), mode)
			if got := sqlstate(t, tw.via, fmt.Sprintf(st, tw.enc), mode); got != want || want == "" {
				t.Errorf("%v: %s: SQLSTATE %q through phiguard, %q directly", mode, st, got, want)
			}
		}
	}
	// A comparison of a randomized column is evaluated by phiguard
	// (docs/search.md): another integer type, or numeric, compares as
	// PostgreSQL does (in numeric for 2.5).
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT id FROM %s WHERE visits = ('0'::int8) ORDER BY id",
			"SELECT id FROM %s WHERE visits > -2.5 AND small < 40000 ORDER BY id",
			"SELECT id FROM %s WHERE big >= ('7'::int2) AND balance > 5::bigint ORDER BY id",
			"SELECT id FROM %s WHERE balance BETWEEN -12 AND 999999998.5 ORDER BY id",
		} {
			tw.same(t, q, mode, "integer comparisons")
		}
	}
}

// sqlstate runs sql and returns its error's SQLSTATE, or "".
func sqlstate(t *testing.T, conn *pgx.Conn, sql string, mode pgx.QueryExecMode) string {
	t.Helper()
	_, err := conn.Exec(context.Background(), sql, mode)
	var pgErr *pgconn.PgError
	if err == nil {
		return ""
	}
	if !errors.As(err, &pgErr) {
		t.Fatalf("%s: %v", sql, err)
	}
	return pgErr.Code
}
