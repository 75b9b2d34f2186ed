package integration

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam31bFoldedShapes: more shapes of a comparison PostgreSQL
// folds with NULL or a parameter, in reads phiguard sorts (and a few it
// does not), under rt29's = (date, date) before pg_catalog that is not
// strict: a list of two NULLs or parameters, a parameter cast to date,
// a CTE (materialized and not), a LATERAL, a window, a sub-SELECT in the
// select list, a join's ON, IS TRUE; and two comparisons whose cells an
// equivalence class finds unequal: a join of a.born = b.born with a.born
// = '1950-06-30' and b.born = '1950-01-01' was planned empty, its checks
// dropped with it (0 rows where the plaintext answers 9; 89 wrong
// answers in 5 statements on 65c9186, sorted or not, literals and
// parameters); the values now take the check in their operands
// (classPlacements). Each runs once, seven times (a generic plan after
// five) and under force_generic_plan, and is answered as the plaintext
// twin or refused (0A000 or 42883), never answered otherwise; without
// the schema none is answered otherwise either. (The others held on
// 65c9186; refusals of shapes phiguard does not send are the plaintext
// run's, logged.)
func TestRedTeam31bFoldedShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixtureWith(t, 200, nil, rt29Policy)
	ctx := testContext(t)
	cases := []shadowCase{
		{sql: `SELECT name FROM %[1]s WHERE born IN (NULL, NULL) ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born IN ($1, $2) ORDER BY name, id LIMIT 3`, args: []any{nil, nil}},
		{sql: `SELECT name FROM %[1]s WHERE born IN ($1, NULL) ORDER BY name, id LIMIT 3`, args: []any{"1950-06-30"}},
		{sql: `SELECT name FROM %[1]s WHERE (born = $1) IS TRUE ORDER BY name, id LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name FROM %[1]s WHERE (born = NULL) IS NOT TRUE ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born = $1::date ORDER BY name, id LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name FROM %[1]s WHERE born = (NULL) ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born = $1 AND born = $2 ORDER BY name, id LIMIT 3`, args: []any{nil, nil}},
		{sql: `SELECT name FROM %[1]s WHERE $1 IN (born) ORDER BY name, id LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name FROM %[1]s WHERE tag = 't1' AND born = $1 ORDER BY name, id LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name, (SELECT count(*) FROM %[1]s b WHERE b.born = NULL) FROM %[1]s ORDER BY name, id LIMIT 3`},
		{sql: `SELECT a.name FROM %[1]s a, LATERAL (SELECT 1 FROM %[1]s b WHERE b.born = NULL AND b.id = a.id) l ORDER BY a.name, a.id LIMIT 3`},
		{sql: `WITH c AS MATERIALIZED (SELECT * FROM %[1]s WHERE born = NULL) SELECT name FROM c ORDER BY name, id LIMIT 3`},
		{sql: `WITH c AS (SELECT * FROM %[1]s WHERE born = $1) SELECT name FROM c ORDER BY name, id LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name, count(*) OVER () FROM %[1]s WHERE born = NULL ORDER BY name, id LIMIT 3`},
		{sql: `SELECT a.name FROM %[1]s a JOIN %[2]s b ON b.person = a.id AND a.born = NULL ORDER BY a.name, b.id LIMIT 3`},
		{sql: `SELECT DISTINCT name FROM %[1]s WHERE born = NULL ORDER BY name`},
		{sql: `SELECT count(*), max(name) FROM %[1]s WHERE born = $1`, args: []any{nil}},
		// An equivalence class of two constants: PostgreSQL derives
		// '<c1>' = '<c2>', false, a One-Time Filter beside the gate.
		{sql: `SELECT name FROM %[1]s WHERE born = '1950-06-30' AND born = '1950-01-01' ORDER BY name, id LIMIT 3`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = '1950-06-30' AND born = '1950-01-01'`},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b ON a.born = b.born WHERE a.born = '1950-06-30' AND b.born = '1950-01-01'`},
		{sql: `SELECT a.name FROM %[1]s a JOIN %[1]s b ON a.born = b.born WHERE a.born = '1950-06-30' AND b.born = '1950-01-01' ORDER BY a.name, a.id LIMIT 3`},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b ON a.born = b.born WHERE $1 = a.born AND ($2) = b.born`, args: []any{"1950-06-30", "1950-01-01"}},
		{sql: `SELECT count(*) FROM %[1]s a, %[1]s b WHERE a.born = b.born AND a.born = '1950-06-30' AND '1950-01-01' = b.born`},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b ON a.born = b.born AND a.born = '1950-06-30' JOIN %[1]s c ON c.born = b.born AND c.born = '1950-01-01'`},
	}
	probe := func(label string, reps int) {
		t.Helper()
		for _, c := range cases {
			for _, mode := range bothModes {
				for r := 0; r < reps; r++ {
					want, derr := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, 0, c.args...)
					got, verr := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, 0, c.args...)
					var pe *pgconn.PgError
					switch {
					case verr != nil && errors.As(verr, &pe) && (pe.Code == "0A000" || pe.Code == "42883"):
						if r == 0 && label == "plain" {
							t.Logf("%s (%v) refused without the schema: %s", c.sql, mode, pe.Message)
						}
					case verr != nil || derr != nil:
						t.Errorf("[%s] %s (%v) run %d: through phiguard %q, %v; directly %q, %v", label, c.sql, mode, r, got, verr, want, derr)
					case got != want:
						t.Errorf("[%s] %s (%v) run %d: through phiguard\n%s\ndirectly\n%s", label, c.sql, mode, r, got, want)
					}
				}
			}
		}
	}
	probe("plain", 1)
	schema := rt31bShadow(t)
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := rowsRaw(t, f.dir, f.sql(`SELECT count(*) FROM %[1]s WHERE born = NULL`, 0), pgx.QueryExecModeSimpleProtocol, 0); err != nil || got != "200\n(SELECT 1)" {
		t.Fatalf("directly under the shadowing schema: %q, %v; want 200 rows", got, err)
	}
	probe("shadow", 1)
	probe("shadow, seven runs", 7)
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
			t.Fatal(err)
		}
	}
	probe("shadow, generic", 1)
}
