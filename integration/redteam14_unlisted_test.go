package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam14UnlistedShapes: TestDeterministicSearchLiteralLeftOfColumn's
// column (mrn, deterministic with search: a value has a cell with terms,
// written through phiguard, and one without, written before the column
// had search) compared with a value in shapes beyond 'x' = col and
// col = ('x'): each must find both rows, as the plaintext does, or be
// refused (0A000); none may compare one cell and miss the other row.
func TestRedTeam14UnlistedShapes(t *testing.T) {
	t.Parallel()
	f := newTermWriteFixture(t)
	r, _ := f.twoFormatMRN(t, "Unl")
	x := "'" + r.mrn + "'"
	var refused, same int
	for _, w := range []string{
		"mrn IS NOT DISTINCT FROM " + x,
		"NOT (mrn IS DISTINCT FROM " + x + ")",
		"mrn = ANY(ARRAY[" + x + "])",
		"mrn = ANY('{" + r.mrn + "}')",
		"mrn = ANY(ARRAY[" + x + "]::text[])",
		"(mrn, true) = (" + x + ", true)",
		"ROW(mrn) = ROW(" + x + ")",
		"CASE mrn WHEN " + x + " THEN true ELSE false END",
		"CASE WHEN mrn = " + x + " THEN true END",
		"mrn IN (SELECT " + x + ")",
		"mrn IN (VALUES (" + x + "))",
		"mrn = (SELECT " + x + ")",
		"mrn = " + x + "::text",
		"mrn = " + x + "::varchar",
		"mrn = CAST(" + x + " AS text)",
		"mrn = text " + x,
		"mrn = " + x + " COLLATE \"C\"",
		"mrn = (" + x + ")::text",
		"mrn = E" + x,
		"mrn = $q$" + r.mrn + "$q$",
		"mrn=/**/" + x,
		"mrn =\n-- c\n" + x,
		"NOT (mrn <> " + x + ")",
		"(mrn IN (" + x + ")) IS TRUE",
		"mrn IN (" + x + ", 'zz')",
		"mrn IN ('zz', (" + x + "))",
		"mrn BETWEEN " + x + " AND " + x,
		"mrn = ALL(ARRAY[" + x + "])",
		"mrn::text = " + x,
		"(SELECT mrn) = " + x,
		"mrn = " + x + "::char(40)",
		"mrn = " + x + "::name",
		"mrn = " + x + " OR false",
		"mrn >= " + x + " AND mrn <= " + x,
		"mrn LIKE " + x,
		"mrn = lower(upper(" + x + "))",
		"mrn = ANY(SELECT " + x + ")",
		"EXISTS (SELECT 1 WHERE mrn = " + x + ")",
		"id IN (SELECT id FROM %[1]s s WHERE s.mrn = " + x + ")",
		"mrn = ANY(ARRAY[" + x + "]) IS NOT FALSE",
		"COALESCE(mrn, '') = " + x,
		"NULLIF(mrn, " + x + ") IS NULL AND mrn IS NOT NULL",
		"GREATEST(mrn, " + x + ") = " + x,
	} {
		q := "SELECT id FROM %[1]s WHERE " + w + " ORDER BY id"
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, f.dir, fmt.Sprintf(q, f.plain), mode, pgx.TextFormatCode)
			got, gerr := rowsRaw(t, f.via, fmt.Sprintf(q, f.enc), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			switch {
			case gerr != nil && errors.As(gerr, &pe) && pe.Code == "0A000":
				refused++
			case werr != nil:
				t.Logf("%s: directly %v (through phiguard %v)", w, werr, gerr)
			case gerr != nil:
				t.Errorf("%v: %s: through phiguard %v", mode, w, gerr)
			case strings.TrimSpace(got) != strings.TrimSpace(want):
				t.Errorf("%v: %s: through phiguard %q, directly %q", mode, w, got, want)
			default:
				same++
			}
		}
	}
	t.Logf("same %d, refused %d", same, refused)
}
