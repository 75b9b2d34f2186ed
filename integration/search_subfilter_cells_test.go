package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestSubqueryFilterSeveralColumnsShapes: comparisons on several
// encrypted columns of one IN or EXISTS subquery must hold on the same
// inner row, also when the columns are of two tables joined inside (a
// LEFT JOIN's missing side gives NULL cells), under NOT IN and NOT
// EXISTS, and for a column named two ways: the plaintext tables' rows,
// in both protocols and both result formats.
func TestSubqueryFilterSeveralColumnsShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// The search box over two randomized columns.
		{`SELECT "a"."id" FROM %[2]s "a" WHERE "a"."person" IN (SELECT "b"."id" FROM %[1]s "b" WHERE "b"."name" ILIKE $1 ESCAPE '\' AND "b"."born" < $2) ORDER BY "a"."id"`, []any{"%m%", "1970-01-01"}},
		{"SELECT o.id FROM %[1]s o WHERE EXISTS (SELECT 1 FROM %[1]s s JOIN %[2]s t ON t.person = s.id WHERE s.id = o.id AND s.name LIKE 'S%%' AND t.city >= 'Bern' AND s.score > 0) ORDER BY o.id", nil},
		{"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.id FROM %[1]s s LEFT JOIN %[2]s t ON t.person = s.id AND t.active WHERE t.city IS NOT DISTINCT FROM NULL AND s.born >= '1960-01-01') ORDER BY o.id", nil},
		{"SELECT o.id FROM %[1]s o WHERE NOT EXISTS (SELECT 1 FROM %[2]s t WHERE t.person = o.id AND t.city ILIKE 'b%%' AND t.city <> 'Bern' AND city > 'A') ORDER BY o.id", nil},
		{"SELECT o.id, o.sequence FROM %[2]s o WHERE o.sequence NOT IN (SELECT s.grp FROM %[1]s s WHERE s.tag >= 't3' AND s.name IS DISTINCT FROM 'Smith' AND s.id < 12) ORDER BY o.id", nil},
		{"SELECT o.id FROM %[1]s o WHERE o.id = ANY (SELECT s.id FROM %[1]s s WHERE lower(s.name) = lower($1) AND s.born BETWEEN $2 AND '1999-12-31' AND s.score IS NOT DISTINCT FROM NULL) ORDER BY o.id", []any{"SMITH", "1940-01-01"}},
	} {
		f.sameRows(t, q.sql, q.args...)
		want, err := rowsRaw(t, f.dir, f.sql(q.sql, 0), pgx.QueryExecModeCacheStatement, pgx.TextFormatCode, q.args...)
		if n := strings.Count(want, "\n"); err != nil || n < 2 { // the comparison must be about rows
			t.Fatalf("%s: %d rows directly (%v)", q.sql, n, err)
		}
	}
}
