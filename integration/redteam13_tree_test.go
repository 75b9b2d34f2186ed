package integration

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 13 (docs/search.md "OR and NOT", "HAVING"): attacks on the
// proxy-side WHERE under OR and NOT and on HAVING over counts, each run
// through phiguard and against the plaintext twin (rt13Run). None
// found a hole: every statement gives PostgreSQL's answer or is refused
// with 0A000. They stay as regressions.

// TestRedTeam13TreeLeafCannotFail: a plaintext leaf beside a filter is a
// hidden column the database computes for every row, where PostgreSQL's
// OR stops at its first true operand. A leaf that looks like "a column
// compared with a constant" but whose column is a computed one (a FROM
// subquery's, a LATERAL's, a CTE's 100 / grp, zero for some rows) would
// fail with 22012 in phiguard's select list where PostgreSQL, pulling
// the subquery up, never divides for the rows grp = 0 keeps. Refused
// instead. Parameters shared by a tree's filter and anything else, and
// shapes around the tree (IS [NOT] TRUE, CASE, IN with NULL, casts), give
// PostgreSQL's answer or 0A000.
func TestRedTeam13TreeLeafCannotFail(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.sameOrRefusedAll(t, []rt13Case{
		{"SELECT s.id FROM (SELECT id, name, grp, 100 / grp AS q FROM %[1]s) s WHERE s.grp = 0 OR s.name = 'Smith' OR s.q > 30", nil},
		{"SELECT s.id FROM %[1]s s, LATERAL (SELECT 100 / s.grp AS q) l WHERE s.grp = 0 OR s.name = 'Smith' OR l.q > 30", nil},
		{"SELECT s.id FROM (SELECT id, name, grp, 100 / grp AS q FROM %[1]s) s WHERE s.grp = 0 OR s.name = 'Smith' OR s.q IS NULL", nil},
		{"SELECT s.id FROM (SELECT id, name, grp, (100 / grp) > 30 AS q FROM %[1]s) s WHERE s.grp = 0 OR s.name = 'Smith' OR s.q", nil},
		{"SELECT s.id FROM (SELECT id, name, grp, 100 / grp AS q FROM %[1]s) s WHERE s.grp <> 0 AND (s.name = 'Smith' OR s.q > 30)", nil},
		{"WITH w AS (SELECT id, name, grp, 100 / grp AS q FROM %[1]s) SELECT w.id FROM w WHERE w.grp = 0 OR w.name = 'Smith' OR w.q > 30", nil},
		{"SELECT id FROM %[1]s p WHERE p.name = 'Smith' OR p.text = 'x'", nil}, // p.text: a cast of the whole row
		{"SELECT id FROM %[1]s WHERE name = 'Smith' OR grp = 1 FOR UPDATE", nil},
		{"SELECT DISTINCT grp FROM %[1]s WHERE name = 'Smith' OR grp = 1", nil},
		{"SELECT * FROM %[1]s WHERE name = 'Smith' OR grp = 1", nil},
		{"SELECT id, grp = 1 FROM %[1]s WHERE name = 'Smith' OR grp = 1 ORDER BY 2, 1 LIMIT 5", nil},
		{"SELECT id FROM %[1]s WHERE (name = 'Smith' OR grp = 1) AND id IN (SELECT id FROM %[1]s WHERE NOT (born < '1970-01-01'))", nil},
		{"SELECT id FROM %[1]s WHERE name = 'Smith' OR grp = 1 UNION SELECT id FROM %[1]s WHERE NOT (born < '1970-01-01')", nil},
		{"SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM %[2]s a WHERE a.person = %[1]s.id AND (a.city = 'Bern' OR a.active))", nil},
		{"SELECT x.id FROM %[1]s x LEFT JOIN %[2]s a ON a.person = x.id AND (a.city = 'Bern' OR a.active)", nil},
		{"SELECT id FROM %[1]s WHERE name = $1 OR tag = $1", []any{"t1"}},
		{"SELECT id FROM %[1]s WHERE score > $1 OR grp > $1", []any{"3"}},
		{"SELECT id FROM %[1]s WHERE score > $1::numeric OR grp > $1::int", []any{"3"}},
		{"SELECT id FROM %[1]s WHERE NOT (score > $1) AND grp < $1", []any{"3"}},
		{"SELECT id FROM %[1]s WHERE (score > $1 OR grp = 2) LIMIT $1", []any{"3"}},
		{"SELECT id, $1::text FROM %[1]s WHERE (name = $1 OR grp = 2)", []any{"Smith"}},
		{"SELECT id FROM %[1]s WHERE (name = $1 OR grp = 2) AND (name = $1 OR grp = 3)", []any{"Smith"}},
		{"SELECT id FROM %[1]s WHERE (name = $1 OR grp = 2) AND tag IS DISTINCT FROM $2 ORDER BY name, id", []any{"Smith", "t1"}},
		{"SELECT id FROM %[1]s WHERE (name = $2 OR tag = $3 OR grp = $1)", []any{2, "Smith", "t1"}},
		{"SELECT id FROM %[1]s WHERE NOT (tag = $1 OR name = 'Smith')", []any{"t1"}},
		{"SELECT id FROM %[1]s WHERE NOT (tag <> $1 AND name = $2)", []any{"t1", "Smith"}},
		{"SELECT id FROM %[1]s WHERE tag NOT IN ($1, 't3') OR name = $2", []any{"t1", "Smith"}},
		{"SELECT id FROM %[1]s WHERE tag IS NOT DISTINCT FROM $1 OR name = $2", []any{nil, "Smith"}},
		{"SELECT id FROM %[1]s WHERE (name = $1 OR grp = 1) IS NOT FALSE", []any{"Smith"}},
		{"SELECT id FROM %[1]s WHERE CASE WHEN name = $1 THEN true ELSE grp = 1 END", []any{"Smith"}},
		{"SELECT id FROM %[1]s WHERE name = $1 OR grp IN (1, NULL)", []any{"Smith"}},
		{"SELECT id FROM %[1]s WHERE name = $1 OR NOT grp NOT IN (1, NULL)", []any{"Smith"}},
		{"SELECT id FROM %[1]s WHERE name = $1 OR grp BETWEEN SYMMETRIC 3 AND 1", []any{"Smith"}},
		{"SELECT id FROM %[1]s WHERE name = $1 OR grp = 2147483648 OR grp = 1.5", []any{"Smith"}},
		{"SELECT id FROM %[1]s WHERE name = $1 OR grp = $2::int8", []any{"Smith", "99999999999"}},
	})
}

// TestRedTeam13TreeWrapped: a tree inside a statement phiguard does not
// read the rows of (COPY (query), a cursor, CREATE TABLE AS, SELECT INTO,
// a view, EXPLAIN) would reach the database as `true` with its hidden
// columns, and no one would drop the rows: each is refused (0A000).
func TestRedTeam13TreeWrapped(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	ctx := testContext(t)
	for _, q := range []string{
		"COPY (SELECT id FROM %[1]s WHERE name = 'Smith' OR grp = 1) TO STDOUT",
		"COPY (SELECT id, name FROM %[1]s WHERE NOT (born < '1970-01-01') ORDER BY name) TO STDOUT",
		"COPY (SELECT grp, count(*) FROM %[1]s GROUP BY grp, name HAVING count(*) > 1) TO STDOUT",
	} {
		_, err := f.via.PgConn().CopyTo(ctx, &bytes.Buffer{}, f.sql(q, 1))
		if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "0A000" {
			t.Errorf("%s: want 0A000, got %v", q, err)
		}
	}
	for _, q := range []string{
		"DECLARE rt13c CURSOR WITH HOLD FOR SELECT id FROM %[1]s WHERE name = 'Smith' OR grp = 1",
		"CREATE TEMP TABLE rt13t AS SELECT id FROM %[1]s WHERE name = 'Smith' OR grp = 1",
		"SELECT id INTO TEMP rt13u FROM %[1]s WHERE NOT (name = 'Smith')",
		"CREATE TEMP VIEW rt13v AS SELECT id FROM %[1]s WHERE name = 'Smith' OR grp = 1",
		"EXPLAIN (COSTS OFF) SELECT id FROM %[1]s WHERE name = 'Smith' OR grp = 1",
	} {
		_, err := rowsRaw(t, f.via, f.sql(q, 1), pgx.QueryExecModeSimpleProtocol, pgx.TextFormatCode)
		if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "0A000" {
			t.Errorf("%s: want 0A000, got %v", q, err)
		}
	}
}

// TestRedTeam13HavingShapes: HAVING over counts in the forms phiguard
// evaluates and around them (count(DISTINCT), FILTER, IS NOT NULL,
// BETWEEN, IN, ALL, a computed or failing constant, a constant past
// int8, a decimal, a text constant, ROLLUP, a grand total, a subquery or
// set operation around it): PostgreSQL's groups or 0A000.
func TestRedTeam13HavingShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 80, nil)
	var cases []rt13Case
	for _, q := range []string{
		"SELECT name, count(DISTINCT born) FROM %[1]s GROUP BY name HAVING count(DISTINCT born) > 2",
		"SELECT name, count(DISTINCT born) FROM %[1]s GROUP BY name HAVING count(born) > 2",
		"SELECT name, count(born) FILTER (WHERE grp = 1) FROM %[1]s GROUP BY name HAVING count(born) FILTER (WHERE grp = 1) > 1",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 AND count(*) < 20 OR name IS NULL",
		"SELECT name, grp, count(*) FROM %[1]s GROUP BY name, grp HAVING count(*) > 1 OR grp = 3",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 2147483648",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1.5",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) >= '3'",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING 3 < count(*)",
		"SELECT name, count(*) AS c FROM %[1]s GROUP BY name HAVING count(*) > 1 ORDER BY c DESC, name LIMIT 2",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 AND count(*) > 99999999999999999999",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > -1 AND NOT count(*) = 4",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) IS NOT NULL",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) BETWEEN 2 AND 5",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) IN (2, 5)",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) <> ALL ('{2,5}')",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 OR true",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 OR NULL",
		"SELECT name, count(*) FROM %[1]s WHERE grp = 1 OR name = 'Smith' GROUP BY name HAVING count(*) > 1",
		"SELECT name, count(*) FROM %[1]s GROUP BY ROLLUP (name) HAVING count(*) > 1",
		"SELECT name, count(*) FROM %[1]s GROUP BY name, () HAVING count(*) > 1",
		"SELECT count(*) FROM %[1]s HAVING count(*) > 1",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 AND count(*) > (SELECT 1)",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 AND count(*) > length('ab')",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 AND count(*) > 1::int2",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 AND count(*) > (1/0)",
		"SELECT name, count(*), count(*) FROM %[1]s GROUP BY name HAVING count(*) > 2",
		"SELECT name, count(born), count(*) FROM %[1]s GROUP BY name HAVING count(born) < count(*)",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 AND name = 'Smith'",
		"SELECT tag, count(*) FROM %[1]s GROUP BY tag HAVING count(*) > 1 AND tag = 't1'",
		"SELECT name, count(*) FROM %[1]s GROUP BY 1 HAVING count(*) > 1",
		"SELECT name n, count(*) FROM %[1]s GROUP BY n HAVING count(*) > 1",
		"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > 1 UNION ALL SELECT 'x', 1",
		"SELECT * FROM (SELECT name, count(*) c FROM %[1]s GROUP BY name HAVING count(*) > 1) s",
	} {
		cases = append(cases, rt13Case{sql: q})
	}
	cases = append(cases, rt13Case{"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > $1 OR name IS NULL", []any{2}},
		rt13Case{"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING NOT (count(*) >= $1) AND count(born) > $1", []any{3}})
	if tally := f.sameOrRefusedAll(t, cases); tally.same < 20 {
		t.Errorf("only %d answers compared: the attack ran no HAVING", tally.same)
	}
}
