package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// rt4SameOrRefused checks invariant 2 for one query: phiguard's answer is
// PostgreSQL's on the plaintext table, or a 0A000/42501 refusal.
func rt4SameOrRefused(t *testing.T, tw *twin, query string, mode pgx.QueryExecMode) {
	t.Helper()
	ctx := testContext(t)
	got, gerr := rt4Rows(tw.via, fmt.Sprintf(query, tw.enc), mode)
	if code := rt4Code(gerr); code == "0A000" || code == "42501" {
		return
	}
	want, werr := rt4Rows(tw.dir, fmt.Sprintf(query, tw.plain), mode)
	_ = ctx
	if werr != nil || gerr != nil {
		if rt4Code(werr) != rt4Code(gerr) {
			t.Errorf("%s (%v): through phiguard %q err %v; directly %q err %v", query, mode, got, gerr, want, werr)
		}
		return
	}
	if got != want {
		t.Errorf("%s (%v): through phiguard\n%s\ndirectly\n%s", query, mode, got, want)
	}
}

func rt4Code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		return "client"
	}
	return ""
}

// rt4Rows is a query's rows as text, or its error.
func rt4Rows(conn *pgx.Conn, sql string, mode pgx.QueryExecMode) (string, error) {
	rows, err := conn.Query(context.Background(), sql, mode, pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		for i, v := range rows.RawValues() {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("<NULL>")
			}
			b.Write(v)
		}
		b.WriteString("\n")
	}
	return b.String(), rows.Err()
}

// TestRedTeam4DeterministicEquality: a deterministic column compares
// cells, so two values PostgreSQL calls equal must have one cell (or the
// comparison be refused): '1 day' = '24 hours' as intervals, 0 = -0 as
// doubles, 1.0 = 1.00 as numerics; json has no = at all.
func TestRedTeam4DeterministicEquality(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt4eq",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"iv", "interval", "{mode: deterministic, key: rt4eq-iv, type: interval}"},
		twinColumn{"d", "double precision", "{mode: deterministic, key: rt4eq-d, type: double precision}"},
		twinColumn{"n", "numeric", "{mode: deterministic, key: rt4eq-n, type: numeric}"},
		twinColumn{"j", "json", "{mode: deterministic, key: rt4eq-j, type: json}"},
		twinColumn{"tz", "timetz", "{mode: deterministic, key: rt4eq-tz, type: timetz}"},
		twinColumn{"jb", "jsonb", "{mode: deterministic, key: rt4eq-jb, type: jsonb}"},
		twinColumn{"bp", "bpchar", "{mode: deterministic, key: rt4eq-bp, type: bpchar}"},
		twinColumn{"n2", "numeric(10,2)", "{mode: deterministic, key: rt4eq-n2, type: \"numeric(10,2)\"}"})
	mode := pgx.QueryExecModeSimpleProtocol
	tw.exec(t, `INSERT INTO %s (id, iv, d, n, j, tz, jb, bp, n2) VALUES (1, '1 day', 0, 1.0, '{"a":1}', '12:00+01', '{"a":1.0}', 'a', 1.0), (2, '24 hours', '-0', 1.00, '{"a":1}', '11:00+00', '{"a":1}', 'a  ', 1.00), (3, '1 mon', 'NaN', 1, '{"a": 1}', '12:00+01', '{"a":1}', 'a', 1)`, mode)
	for _, q := range []string{
		"SELECT count(DISTINCT iv) FROM %s",
		"SELECT id FROM %s WHERE iv = '24 hours' ORDER BY id",
		"SELECT id FROM %s WHERE iv = '30 days' ORDER BY id",
		"SELECT count(DISTINCT d) FROM %s",
		"SELECT id FROM %s WHERE d = 0 ORDER BY id",
		"SELECT id FROM %s WHERE d = '-0' ORDER BY id",
		"SELECT count(DISTINCT n) FROM %s",
		"SELECT id FROM %s WHERE n = 1 ORDER BY id",
		"SELECT id FROM %s WHERE j = '{\"a\":1}' ORDER BY id",
		"SELECT count(DISTINCT j) FROM %s",
		"SELECT count(DISTINCT tz) FROM %s",
		"SELECT iv, count(*) FROM %s GROUP BY iv ORDER BY 2",
		"SELECT count(DISTINCT jb) FROM %s",
		"SELECT id FROM %s WHERE jb = '{\"a\":1}' ORDER BY id",
		"SELECT count(DISTINCT bp) FROM %s",
		"SELECT id FROM %s WHERE bp = 'a ' ORDER BY id",
		"SELECT count(DISTINCT n2) FROM %s",
		"SELECT id FROM %s WHERE n2 = 1 ORDER BY id",
	} {
		for _, m := range bothModes {
			rt4SameOrRefused(t, tw, q, m)
		}
	}
}

// TestRedTeam4CopyAcrossTypes: INSERT ... SELECT copies a deterministic
// cell into another column under the same key as it is, which is
// PostgreSQL's answer only when both columns have one type: numeric(10,2)
// 2.50 into an integer column is 3 (rounded), text into integer is 42804.
func TestRedTeam4CopyAcrossTypes(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt4cp",
		twinColumn{"id", "int", ""},
		twinColumn{"n", "numeric(10,2)", "{mode: deterministic, key: rt4cp-k, type: \"numeric(10,2)\"}"},
		twinColumn{"i", "integer", "{mode: deterministic, key: rt4cp-k, type: integer}"},
		twinColumn{"s", "text", "{mode: deterministic, key: rt4cp-k, type: text}"})
	for _, mode := range bothModes {
		tw.clear(t)
		tw.exec(t, "INSERT INTO %s (id, n, s) VALUES (1, 2.5, '7')", mode)
		for _, q := range []string{
			"INSERT INTO %s (id, i) SELECT 2, n FROM %[1]s WHERE id = 1 RETURNING id",
			"INSERT INTO %s (id, i) SELECT 3, s FROM %[1]s WHERE id = 1 RETURNING id",
		} {
			rt4SameOrRefused(t, tw, q, mode)
		}
		tw.same(t, "SELECT id, n, i, s FROM %s ORDER BY id", mode, "copied across types")
	}
}

// TestRedTeam4CompareAcrossTypes: two deterministic columns under one
// key compare by cell, which is PostgreSQL's answer only for one type:
// numeric(10,2) 7.00 = integer 7 is true, text = integer is 42883.
func TestRedTeam4CompareAcrossTypes(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt4cmp",
		twinColumn{"id", "int", ""},
		twinColumn{"n", "numeric(10,2)", "{mode: deterministic, key: rt4cmp-k, type: \"numeric(10,2)\"}"},
		twinColumn{"i", "integer", "{mode: deterministic, key: rt4cmp-k, type: integer}"},
		twinColumn{"b", "bigint", "{mode: deterministic, key: rt4cmp-k, type: bigint}"},
		twinColumn{"s", "text", "{mode: deterministic, key: rt4cmp-k, type: text}"})
	for _, mode := range bothModes {
		tw.clear(t)
		tw.exec(t, "INSERT INTO %s (id, n, i, b, s) VALUES (1, 7, 7, 7, '7')", mode)
		for _, q := range []string{
			"SELECT id FROM %s WHERE n = i",
			"SELECT id FROM %s WHERE s = i",
			"SELECT id FROM %s WHERE b = i",
		} {
			rt4SameOrRefused(t, tw, q, mode)
		}
	}
}

// TestRedTeam4NumericSpecials: a numeric(p,s) column holds no infinity,
// so a comparison with one finds no row in PostgreSQL; NaN is a value.
func TestRedTeam4NumericSpecials(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt4nsp",
		twinColumn{"id", "int", ""},
		twinColumn{"n", "numeric(10,2)", "{mode: deterministic, key: rt4nsp-k, type: \"numeric(10,2)\"}"},
		twinColumn{"i", "integer", "{mode: deterministic, key: rt4nsp-i, type: integer}"})
	tw.exec(t, "INSERT INTO %s (id, n, i) VALUES (1, 'NaN', 1), (2, 1.5, 2)", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT id FROM %s WHERE n = 'Infinity'",
			"SELECT id FROM %s WHERE n = '-Infinity'",
			"SELECT id FROM %s WHERE n = 'NaN'",
			"SELECT id FROM %s WHERE n = '1.50000'",
			"SELECT id FROM %s WHERE n = '  1.5  '",
			"SELECT id FROM %s WHERE n = 1e-400",
			"SELECT id FROM %s WHERE n <> '99999999999'",
			"SELECT id FROM %s WHERE i = '1.0'",
			"SELECT id FROM %s WHERE i = 1.0",
			"SELECT id FROM %s WHERE i <> 1.5 ORDER BY id",
			"SELECT id FROM %s WHERE i = 1e0",
			"SELECT id FROM %s WHERE i = '99999999999'",
			"SELECT id FROM %s WHERE i IN (1.5, 2) ORDER BY id",
			"SELECT id FROM %s WHERE i NOT IN (1.5, 2) ORDER BY id",
		} {
			rt4SameOrRefused(t, tw, q, mode)
		}
	}
}
