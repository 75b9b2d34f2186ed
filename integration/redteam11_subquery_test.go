package integration

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sameOrRefused runs q (with %[1]s for people, %[2]s for addresses) on
// the plaintext tables directly and on the encrypted ones through
// phiguard, in both protocols: phiguard must give the same rows or refuse
// with 0A000. It returns how many runs phiguard answered.
func (f *sortFixture) sameOrRefused(t *testing.T, q string, args ...any) int {
	t.Helper()
	answered := 0
	for _, mode := range bothModes {
		want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode, args...)
		if err != nil {
			t.Fatalf("directly (%v): %s: %v", mode, q, err)
		}
		got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode, args...)
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == "0A000":
		case err != nil:
			t.Errorf("through phiguard (%v): %s: %v", mode, q, err)
		case sortedLines(got) != sortedLines(want):
			t.Errorf("through phiguard (%v): %s\n%s\ndirectly\n%s", mode, q, got, want)
		default:
			answered++
		}
	}
	return answered
}

// TestRedTeam11SubqueryAliasCapture: phiguard copies X of X IN (SELECT
// k ...) into the hidden array's subquery, where a name the subquery's
// FROM defines binds X inside. The check knew tables and joins only: an
// aliased FROM subquery (LATERAL or not) or a function in FROM (allowed
// for NOT IN) named like X's table was accepted, the array compared k
// with the inner alias's column, and the answer differed from
// PostgreSQL's. Such an X is refused (0A000) now.
func TestRedTeam11SubqueryAliasCapture(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, q := range []string{
		"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s, LATERAL (SELECT s.person AS id) o WHERE s.city LIKE 'B%%')",
		"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s, (SELECT id FROM %[1]s WHERE id < 5) o WHERE s.city LIKE 'B%%')",
		"SELECT o.id FROM %[1]s o WHERE o.id = ANY (SELECT s.person FROM %[2]s s JOIN (SELECT id FROM %[1]s) o ON true WHERE s.city = 'Bern')",
		"SELECT o.id FROM %[1]s o WHERE o.id NOT IN (SELECT s.person FROM %[2]s s, generate_series(1, 3) o (id) WHERE s.city LIKE 'B%%')",
		"SELECT o.id FROM %[1]s o WHERE NOT o.id IN (SELECT s.person FROM %[2]s s, LATERAL (SELECT s.person AS id) o WHERE s.city >= 'Basel')",
	} {
		f.sameOrRefused(t, q)
	}
	// A join's USING alias (PostgreSQL 14's JOIN ... USING (c) AS j)
	// names the merged column.
	f.sameOrRefused(t, "SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.id FROM %[1]s s JOIN %[1]s x USING (id) AS o WHERE s.name LIKE 'S%%')")
	// Not captured: the inner names differ from X's table.
	if n := f.sameOrRefused(t, "SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s, (SELECT id FROM %[1]s) p WHERE p.id = s.person AND s.city LIKE 'B%%')"); n != 2 {
		t.Errorf("an inner subquery of another name: %d of 2 runs answered", n)
	}
}

// TestRedTeam11NegatedSubqueryUnderRowRules: NOT IN and NOT EXISTS with
// a filter inside send the whole conjunct as true and read the array of
// cells alone; its subquery must stay within the role's row rule (a
// patient dr_alice cannot see must not make one she sees drop out).
// Her answers equal the admin's with her care team's rule at both levels.
func TestRedTeam11NegatedSubqueryUnderRowRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	alice, admin := p.as(t, "dr_alice"), p.as(t, "admin_ann")
	rows := 0
	for _, mode := range bothModes {
		for _, c := range []struct{ mine, admins string }{
			{"SELECT o.id FROM patients o WHERE o.id NOT IN (SELECT p.id FROM patients p WHERE p.last ILIKE $1) ORDER BY o.id",
				"SELECT o.id FROM patients o WHERE o.id IN " + aliceSees + " AND o.id NOT IN (SELECT p.id FROM patients p WHERE p.id IN " + aliceSees + " AND p.last ILIKE $1) ORDER BY o.id"},
			{"SELECT o.id FROM patients o WHERE NOT EXISTS (SELECT 1 FROM patients p WHERE p.id <> o.id AND p.last ILIKE $1) ORDER BY o.id",
				"SELECT o.id FROM patients o WHERE o.id IN " + aliceSees + " AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.id IN " + aliceSees + " AND p.id <> o.id AND p.last ILIKE $1) ORDER BY o.id"},
			{"SELECT o.id FROM patients o WHERE NOT (o.id IN (SELECT p.id FROM patients p WHERE p.last ILIKE $1 AND p.id IS NOT NULL)) ORDER BY o.id",
				"SELECT o.id FROM patients o WHERE o.id IN " + aliceSees + " AND NOT (o.id IN (SELECT p.id FROM patients p WHERE p.id IN " + aliceSees + " AND p.last ILIKE $1 AND p.id IS NOT NULL)) ORDER BY o.id"},
		} {
			for _, arg := range []string{"%a%", "%e%", "zz%"} {
				got, err := rowsRaw(t, alice, c.mine, mode, pgx.TextFormatCode, arg)
				if err != nil {
					t.Fatalf("%v: %v", mode, err)
				}
				want, err := rowsRaw(t, admin, c.admins, mode, pgx.TextFormatCode, arg)
				if err != nil {
					t.Fatalf("%v: %v", mode, err)
				}
				if got != want {
					t.Errorf("%v %s %q: dr_alice\n%s\nadmin's filter\n%s", mode, c.mine, arg, got, want)
				}
				rows += strings.Count(want, "\n")
			}
		}
	}
	if rows < 10 {
		t.Fatalf("only %d rows in all answers", rows)
	}
}

// TestRedTeam11SubqueryFilterShapes: the hidden array column beside
// DISTINCT (the database would de-duplicate on it too), LIMIT and
// OFFSET (applied after phiguard's filter), a plaintext-only select
// list and several subqueries with filters: the plaintext tables'
// answers, or a refusal.
func TestRedTeam11SubqueryFilterShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 80, nil)
	answered := 0
	for _, q := range []string{
		"SELECT DISTINCT o.grp FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%') ORDER BY o.grp",
		"SELECT DISTINCT o.grp FROM %[1]s o WHERE EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND s.city ILIKE 'z%%')",
		"SELECT DISTINCT o.grp, o.name FROM %[1]s o WHERE o.id NOT IN (SELECT s.person FROM %[2]s s WHERE s.city = 'Bern') ORDER BY o.name, o.grp",
		"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%') ORDER BY o.id LIMIT 5 OFFSET 2",
		"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%') ORDER BY o.id FETCH FIRST 3 ROWS ONLY",
		"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%') AND o.id IN (SELECT t.person FROM %[2]s t WHERE t.city ILIKE '%%r%%') AND o.name >= 'S' ORDER BY o.id",
		"SELECT count(*) FROM %[1]s o WHERE EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND s.city = 'Basel')",
		"SELECT o.id, (SELECT count(*) FROM %[2]s c WHERE c.person = o.id) FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city <> 'Bern') ORDER BY o.id",
		"SELECT o.id FROM %[1]s o JOIN %[2]s a ON a.person = o.id WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'Z%%') ORDER BY o.id, a.id",
		"SELECT o.id FROM %[1]s o WHERE (o.id) IN (SELECT (s.person) FROM %[2]s s WHERE (s.city LIKE 'B%%')) ORDER BY 1",
		"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%' AND s.person = o.id) ORDER BY 1",
		"SELECT o.id FROM %[1]s o WHERE o.id + 0 IN (SELECT s.person FROM %[2]s s WHERE s.city BETWEEN 'A' AND 'C') ORDER BY 1",
		"SELECT o.id FROM %[1]s o WHERE o.grp::bigint IN (SELECT s.sequence FROM %[2]s s WHERE s.city IS NOT DISTINCT FROM NULL) ORDER BY 1",
	} {
		for _, mode := range bothModes {
			want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatalf("directly: %s: %v", q, err)
			}
			got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			switch {
			case errors.As(err, &pe) && pe.Code == "0A000":
			case err != nil:
				t.Errorf("%v: %s: %v", mode, q, err)
			case strings.Contains(q, "ORDER BY") && got != want, sortedLines(got) != sortedLines(want):
				t.Errorf("%v: %s: through phiguard\n%s\ndirectly\n%s", mode, q, got, want)
			default:
				answered++
			}
		}
	}
	t.Logf("%d of %d runs answered", answered, 26)
}
