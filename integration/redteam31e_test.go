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
// that moment; phiguard's check (to_regoperator along search_path) runs
// when the executor reaches it. A function call the executor runs
// first can change search_path in between: here a FROM subquery's
// set_config, and the check inside a scalar subquery (or a LATERAL
// one) that runs per row of it. Parsed under the shadowing schema, the
// plaintext statement calls the same-year = (2 rows born in 1950);
// through phiguard the check, run after set_config removed the schema,
// finds pg_catalog's operators, and the cells compare exact dates: 0
// rows, not refused. Any function (a user's PL/pgSQL one that SETs
// search_path) can do the same, so refusing set_config by name would
// not close it.
func TestRedTeam31eSearchPathChangedMidStatement(t *testing.T) {
	t.Skip("HOLE: a search_path changed by a function during the statement, before the operator check runs, is not seen; docs/search.md \"Shadowed operators on cells\"")
	t.Parallel()
	f := newSortFixtureWith(t, 120, nil, rt29Policy)
	ctx := testContext(t)
	schema := rt31bShadow(t)
	reads := []shadowCase{
		{sql: `SELECT (SELECT count(*) FROM %[1]s WHERE born = '1950-06-30' AND s.x IS NOT NULL) FROM (SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false) x) s`},
		{sql: `SELECT (SELECT count(*) FROM %[1]s WHERE born = '1950-06-30') FROM (SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false) x) s`},
		{sql: `SELECT count(*) FROM (SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false) x) s CROSS JOIN LATERAL (SELECT * FROM %[1]s WHERE born = '1950-06-30' AND s.x IS NOT NULL) t`},
	}
	bad := 0
	for _, c := range reads {
		for _, mode := range bothModes {
			for _, conn := range []*pgx.Conn{f.dir, f.via} {
				if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
					t.Fatal(err)
				}
			}
			want, derr := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, 0)
			if derr != nil || want == "0\n(SELECT 1)" {
				t.Fatalf("%s (%v) directly: %q, %v; want the rows born in 1950", c.sql, mode, want, derr)
			}
			for _, conn := range []*pgx.Conn{f.dir, f.via} {
				if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
					t.Fatal(err)
				}
			}
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
}
