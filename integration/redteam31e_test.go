package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// rt31eNeverDifferent runs c on both sides in both protocols and wants,
// through phiguard, either the plaintext's answer or a refusal (0A000
// naming born). It returns how many answers differed.
func (f *sortFixture) rt31eNeverDifferent(t *testing.T, c shadowCase) int {
	t.Helper()
	bad := 0
	for _, mode := range bothModes {
		want, derr := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, 0, c.args...)
		got, verr := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, 0, c.args...)
		var pe *pgconn.PgError
		switch {
		case verr != nil && errors.As(verr, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, f.people[1]+".born"):
		case verr != nil && derr != nil:
		case verr != nil || derr != nil:
			t.Errorf("%s (%v): through phiguard %q, %v; directly %q, %v", c.sql, mode, got, verr, want, derr)
			bad++
		case got != want:
			t.Errorf("%s (%v): through phiguard\n%s\ndirectly\n%s", c.sql, mode, got, want)
			bad++
		}
	}
	return bad
}

// TestRedTeam31eHeld: shapes the red team tried under a schema before
// pg_catalog whose = (date, date) is "the same year" (NULL: any year):
// semi-joins (IN/ANY/ALL/EXISTS with a subquery), USING and NATURAL
// joins, x = x, duplicates, row comparisons, IS NOT DISTINCT FROM, =
// ANY of an array, CASE/NULLIF/FILTER/target-list comparisons, casts to
// date, a CTE's constant, equivalence classes through a join, LIMIT 0,
// OFFSET 0 fences, an explicit OPERATOR(schema.=), and a set_config of
// search_path in a FROM subquery beside the comparison (the check, a
// one-time filter, runs first). Each is refused (0A000 naming born) or
// answered as the plaintext: it held.
func TestRedTeam31eHeld(t *testing.T) {
	t.Parallel()
	f := newSortFixtureWith(t, 120, nil, rt29Policy)
	ctx := testContext(t)
	schema := rt31bShadow(t)
	reads := []shadowCase{
		{sql: `SELECT count(*) FROM %[1]s WHERE born = born`},
		{sql: `SELECT count(*) FROM %[1]s a WHERE a.born IN (SELECT b.born FROM %[1]s b WHERE b.id = 5)`},
		{sql: `SELECT count(*) FROM %[1]s a WHERE EXISTS (SELECT 1 FROM %[1]s b WHERE b.born = a.born AND b.id <> a.id)`},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b USING (born) WHERE a.id <= 20`},
		{sql: `SELECT count(*) FROM %[1]s a NATURAL JOIN (SELECT id, born FROM %[1]s) b`},
		{sql: `SELECT count(*) FROM %[1]s WHERE (born, grp) = ('1950-06-30', 1)`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born IS NOT DISTINCT FROM '1950-06-30'`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = ANY('{1950-06-30,1951-06-30}')`},
		{sql: `SELECT sum(CASE WHEN born = '1950-06-30' THEN 1 ELSE 0 END) FROM %[1]s`},
		{sql: `SELECT count(*) FILTER (WHERE born = '1950-06-30') FROM %[1]s`},
		{sql: `SELECT count(NULLIF(born, '1950-06-30')) FROM %[1]s`},
		{sql: `SELECT sum(CASE born WHEN '1950-06-30' THEN 1 ELSE 0 END) FROM %[1]s`},
		{sql: `SELECT id, born = '1950-06-30' FROM %[1]s ORDER BY id`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = (SELECT '1950-06-30'::date)`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = '1950-06-30' AND born = '1950-06-30'`},
		{sql: `SELECT count(*) FROM %[1]s WHERE NOT (born <> '1950-06-30')`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born IN (VALUES ('1950-06-30'::date))`},
		{sql: `SELECT count(*) FROM %[1]s WHERE (born, grp) IN (SELECT born, grp FROM %[1]s WHERE id = 5)`},
		{sql: `SELECT count(*) FROM %[1]s a WHERE a.born = ALL (SELECT b.born FROM %[1]s b WHERE b.id = 5)`},
		{sql: `SELECT count(*) FROM %[1]s a WHERE a.born = ANY (SELECT b.born FROM %[1]s b WHERE b.id = 5)`},
		{sql: `WITH c AS (SELECT '1950-06-30'::date AS d) SELECT count(*) FROM %[1]s, c WHERE born = c.d`},
		{sql: `SELECT count(*) FROM %[1]s a, %[1]s b WHERE a.born = b.born AND b.id = 5`},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b ON a.born = b.born AND a.born = '1950-06-30'`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = '1950-06-30' LIMIT 0`},
		{sql: `SELECT count(*) FROM (SELECT * FROM %[1]s WHERE born = '1950-06-30' OFFSET 0) s`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = $1 AND born = $2`, args: []any{"1950-06-30", "1950-06-30"}},
		{sql: `SELECT count(*) FROM %[1]s WHERE born IN (SELECT $1::date)`, args: []any{"1950-06-30"}},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = $1::date`, args: []any{"1950-06-30"}},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = '1950-06-30'::date`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = date '1950-06-30'`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = '1950-06-30' IS TRUE`},
		{sql: `SELECT count(*) FROM %[1]s WHERE (born = '1950-06-30') = true`},
		{sql: `SELECT count(*) FROM %[1]s WHERE coalesce(born = '1950-06-30', true)`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = '1950-06-30' OR born IS NULL`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = 'epoch'`},
		{sql: `SELECT count(*) FROM (SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', true)) s, %[1]s WHERE born = '1950-06-30'`},
		{sql: `SELECT count(*) FROM (SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false)) s, %[1]s WHERE born = '1950-06-30'`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born OPERATOR(` + schema + `.=) '1950-06-30'`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born OPERATOR(pg_catalog.=) '1950-06-30'`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = 'infinity'`},
	}
	setPath := func() {
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
				t.Fatal(err)
			}
		}
	}
	bad := 0
	for _, c := range reads {
		setPath()
		bad += f.rt31eNeverDifferent(t, c)
	}
	if bad > 0 {
		t.Errorf("%d wrong answers", bad)
	}
}

// TestRedTeam31eSearchPathChangedMidStatement: PostgreSQL resolves a
// statement's operators when it parses it, under the search_path of
// that moment; phiguard's check looked them up (to_regoperator, after a
// test of current_schemas) when the executor reached it. A function the
// executor runs first can change search_path in between: a FROM
// subquery's set_config with the check inside a scalar, EXISTS or
// LATERAL subquery run per row of it, in an outer join's ON or an OR's
// operand, or a pseudo-constant beside it in the WHERE, a target list
// before a scalar subquery. Parsed under the shadowing schema, the
// plaintext statement calls the same-year = (2 rows born in 1950);
// through phiguard the check, run after set_config removed the schema,
// found pg_catalog's operators, and the cells compared exact dates: 0
// rows (18 wrong answers in 9 statements, both protocols; an UPDATE
// alike). Any function (a user's PL/pgSQL one that SETs search_path)
// can do the same. The exact check is now a regoperator (regtype)
// constant the parser converts with the statement's own search_path:
// refused (0A000 naming born), the refused UPDATE changes nothing.
func TestRedTeam31eSearchPathChangedMidStatement(t *testing.T) {
	t.Parallel()
	f := newSortFixtureWith(t, 120, nil, rt29Policy)
	ctx := testContext(t)
	schema := rt31bShadow(t)
	sp := `pg_catalog.set_config('search_path', 'public, pg_catalog', false)`
	reads := []shadowCase{
		{sql: `SELECT (SELECT count(*) FROM %[1]s WHERE born = '1950-06-30' AND s.x IS NOT NULL) FROM (SELECT ` + sp + ` x) s`},
		{sql: `SELECT (SELECT count(*) FROM %[1]s WHERE born = '1950-06-30') FROM (SELECT ` + sp + ` x) s`},
		{sql: `SELECT count(*) FROM (SELECT ` + sp + ` x) s CROSS JOIN LATERAL (SELECT * FROM %[1]s WHERE born = '1950-06-30' AND s.x IS NOT NULL) t`},
		{sql: `SELECT count(*) FROM %[1]s WHERE (SELECT ` + sp + `) IS NOT NULL AND born = '1950-06-30'`},
		{sql: `SELECT ` + sp + `, (SELECT count(*) FROM %[1]s WHERE born = '1950-06-30')`},
		{sql: `SELECT x FROM (SELECT ` + sp + ` x) s WHERE EXISTS (SELECT 1 FROM %[1]s WHERE born = '1950-06-30' AND s.x IS NOT NULL)`},
		{sql: `SELECT count(*) FROM (SELECT ` + sp + ` x) s LEFT JOIN %[1]s ON born = '1950-06-30' AND s.x IS NOT NULL`},
		{sql: `SELECT count(*) FROM (SELECT ` + sp + ` x) s, %[1]s WHERE born = '1950-06-30' OR id = -1`},
		{sql: `UPDATE %[1]s SET grp = grp + 100 WHERE id IN (SELECT id FROM (SELECT ` + sp + ` x) s CROSS JOIN LATERAL (SELECT id FROM %[1]s WHERE born = '1950-06-30' AND s.x IS NOT NULL) q)`},
	}
	setPath := func() {
		t.Helper()
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
				t.Fatal(err)
			}
		}
	}
	table := `SELECT id, grp FROM %[1]s ORDER BY id`
	before, err := rowsRaw(t, f.via, f.sql(table, 1), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, c := range reads {
		for _, mode := range bothModes {
			setPath()
			want, derr := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, 0)
			if derr != nil || strings.HasPrefix(want, "0\n") || strings.Contains(want, "(UPDATE 0)") {
				t.Fatalf("%s (%v) directly: %q, %v; want the rows born in 1950", c.sql, mode, want, derr)
			}
			setPath()
			got, verr := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, 0)
			var pe *pgconn.PgError
			if verr != nil && errors.As(verr, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, f.people[1]+".born") {
				continue
			}
			t.Errorf("%s (%v): through phiguard %q, %v; want 0A000 (directly %q)", c.sql, mode, got, verr, want)
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d wrong answers", bad)
	}
	after, err := rowsRaw(t, f.via, f.sql(table, 1), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil || after != before {
		t.Errorf("the refused UPDATE changed the table (%v)", err)
	}
}

// TestRedTeam31eSearchPathChangedBeforeScan: the same change of
// search_path during the statement, before a check that is not an exact
// lookup. born = $1 with $1 declared varchar (as pgjdbc declares a
// string) has no pg_catalog operator of exactly (date, varchar); a
// schema before pg_catalog has one, "the same year", which the
// plaintext statement calls (2 rows). The check is a scan of
// pg_operator for a visible operator outside pg_catalog
// (pg_operator_is_visible), which reads search_path when it runs: after
// set_config removed the schema it finds none, and phiguard answers 0.
// Without the set_config the scan refuses (TestShadowedOperatorDeclaredParam).
func TestRedTeam31eSearchPathChangedBeforeScan(t *testing.T) {
	t.Parallel()
	f := newSortFixtureWith(t, 120, nil, rt29Policy)
	ctx := testContext(t)
	schema := uniqueName("rt31etext")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.same_year(date, varchar) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT pg_catalog.date_trunc('year', $1) OPERATOR(pg_catalog.=) pg_catalog.date_trunc('year', CAST($2 AS pg_catalog.date)) $$;
CREATE OPERATOR %[1]s.= (LEFTARG = date, RIGHTARG = varchar, FUNCTION = %[1]s.same_year)`, schema)); err != nil {
		t.Fatal(err)
	}
	sql := `SELECT (SELECT count(*) FROM %[1]s WHERE born = $1 AND s.x IS NOT NULL) FROM (SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false) x) s`
	res := [2]string{}
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
		var pe *pgconn.PgError
		if _, err := conn.PgConn().Prepare(ctx, "rt31e_scan", f.sql(sql, side), []uint32{1043}); err != nil {
			res[side] = "prepare: " + err.Error()
			if side == 1 && errors.As(err, &pe) && pe.Code == "0A000" {
				res[side] = "refused: " + pe.Message
			}
			continue
		}
		got, err := rt31bPrepared(t, conn, "rt31e_scan", [][]byte{[]byte("1950-06-30")})
		switch {
		case side == 1 && err != nil && errors.As(err, &pe) && pe.Code == "0A000":
			res[side] = "refused: " + pe.Message
		case err != nil:
			res[side] = "error: " + err.Error()
		default:
			res[side] = got
		}
	}
	if !strings.HasPrefix(res[1], "refused") && res[1] != res[0] {
		t.Errorf("%s ($1 declared varchar): through phiguard %q, directly %q", sql, res[1], res[0])
	}
}
