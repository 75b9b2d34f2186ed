package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/config"
)

// TestPlanReuseSettings: PostgreSQL coerces a text's constants under the
// settings of its analysis, and a reused plan keeps those it was
// prepared under (guard/plan_reuse_settings.go). A text holding a date
// constant (read under DateStyle, reported, but one execution late after
// a reload: guard/plan_reuse_datetime.go) or x = NULL (which
// transform_null_equals, not reported, rewrites: sqlrewrite's
// SettingsFree) is not reused at all, and answers as PostgreSQL does
// through a SET, a SET LOCAL and the COMMIT that undoes it; a text
// holding neither is reused throughout.
func TestPlanReuseSettings(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 240)
	ctx := testContext(t)
	// Rows under DateStyle MDY only: under DMY the date is 1 February.
	const dateText = "SELECT id, name FROM public.%s WHERE name ILIKE 'sm%%' AND '01/02/2020'::pg_catalog.date < '2020-01-15'::pg_catalog.date ORDER BY name, id LIMIT 7"
	// Rows under transform_null_equals off only: on, grp = NULL is grp IS NULL.
	const nullText = "SELECT id, name FROM public.%s WHERE name ILIKE 'sm%%' AND (grp = NULL) IS NULL ORDER BY name, id LIMIT 7"
	const plainText = "SELECT id, name FROM public.%s WHERE name ILIKE 'sm%%' ORDER BY name, id LIMIT 7"
	same := func(text, when string) {
		t.Helper()
		want, err := rowsRaw(t, f.dir, fmt.Sprintf(text, f.plain), pgx.QueryExecModeExec, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%s, directly: %v", when, err)
		}
		got, err := rowsRaw(t, f.via, fmt.Sprintf(text, f.enc), pgx.QueryExecModeExec, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%s, through phiguard: %v", when, err)
		}
		if got != want {
			t.Fatalf("%s: through phiguard\n%s\ndirectly\n%s", when, got, want)
		}
	}
	both := func(sql string) {
		t.Helper()
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("side %d: %s: %v", side, sql, err)
			}
		}
	}
	for _, text := range []string{dateText, nullText, plainText} {
		if want, _ := rowsRaw(t, f.dir, fmt.Sprintf(text, f.plain), pgx.QueryExecModeExec, pgx.TextFormatCode); !strings.Contains(want, "\n") {
			t.Fatalf("no rows directly: the test reads nothing")
		}
	}
	for _, text := range []string{dateText, nullText, plainText} {
		same(text, "first")
		same(text, "second")
	}
	if n := reusedPlans(t, f.via); n != 1 {
		t.Fatalf("%d statements prepared under phiguard's names, want 1 (the plain text is reused, the date text and x = NULL are not)", n)
	}
	both("SET DateStyle = 'ISO, DMY'")
	same(dateText, "after SET DateStyle")
	same(dateText, "after SET DateStyle, again")
	same(plainText, "after SET DateStyle")
	both("RESET DateStyle")
	both("SET transform_null_equals = on")
	same(nullText, "after SET transform_null_equals")
	both("RESET transform_null_equals")
	same(nullText, "after RESET transform_null_equals")
	both("BEGIN")
	both("SET LOCAL transform_null_equals = on")
	same(nullText, "after SET LOCAL, in the transaction")
	both("COMMIT")
	same(nullText, "after the COMMIT that undid SET LOCAL")
	same(dateText, "after the COMMIT")
	both("SET application_name = 'x'") // neutral: the plan stays
	same(plainText, "after SET application_name")
	if n := reusedPlans(t, f.via); n != 1 {
		t.Fatalf("%d statements prepared under phiguard's names at the end, want 1", n)
	}
}

// TestPlanReuseOff: limits.reused_plans 0 turns plan reuse off: the
// same answers, and no statement prepared under phiguard's names.
func TestPlanReuseOff(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 32} {
		f := newSortFixture(t, 40, func(c *config.Config) { c.Limits.ReusedPlans = limit })
		const q = "SELECT id, name FROM public.%[1]s WHERE grp IN (1, 2) ORDER BY name, id LIMIT 5"
		for range 3 {
			want, err := rowsRaw(t, f.dir, f.sql(q, 0), pgx.QueryExecModeExec, pgx.TextFormatCode)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rowsRaw(t, f.via, f.sql(q, 1), pgx.QueryExecModeExec, pgx.TextFormatCode)
			if err != nil || got != want || !strings.Contains(want, "\n") {
				t.Fatalf("reused_plans %d: through phiguard %q (%v), directly %q", limit, got, err, want)
			}
		}
		if n := reusedPlans(t, f.via); (n == 0) != (limit == 0) {
			t.Fatalf("reused_plans %d: %d statements prepared under phiguard's names", limit, n)
		}
	}
}
