package integration

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnqualifiedNameFunctionColumns: a function called in FROM without
// a column definition list has its result's columns, which the session's
// catalog tells (guard/catalog_functions.go). A name it surely lacks
// binds to the outer encrypted column, as in PostgreSQL, the constant
// encrypted (refused in stop 36: phiguard could not tell); a name its
// result may have (an OUT parameter, a composite return type's
// attribute, a polymorphic or record result) is refused, 0A000 naming
// the function, where PostgreSQL binds it to the function's column.
func TestUnqualifiedNameFunctionColumns(t *testing.T) {
	t.Parallel()
	fnOut, fnRow, fnPlain, rowType := uniqueName("fc_out"), uniqueName("fc_row"), uniqueName("fc_plain"), uniqueName("fc_rt")
	if _, err := superuser(t).Exec(testContext(t), strings.NewReplacer("OUT_", fnOut, "ROW_", fnRow, "PLAIN_", fnPlain, "RT_", rowType).Replace(`
		CREATE FUNCTION OUT_(int) RETURNS TABLE (tag text, n int) LANGUAGE sql AS $$SELECT 't1', $1$$;
		CREATE TYPE RT_ AS (n int, tag text);
		CREATE FUNCTION ROW_() RETURNS SETOF RT_ LANGUAGE sql AS $$SELECT 1, 't1'$$;
		CREATE FUNCTION PLAIN_(int) RETURNS SETOF int LANGUAGE sql AS $$SELECT $1$$;
		GRANT EXECUTE ON FUNCTION OUT_(int), ROW_(), PLAIN_(int) TO PUBLIC`)); err != nil {
		t.Fatal(err)
	}
	f := newSortFixture(t, 30, nil) // its sessions read the catalog after the functions were made
	for _, q := range []string{
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM generate_series(1, 2) g WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM pg_catalog.generate_series(1, 2) WITH ORDINALITY g WHERE tag IS NULL)",
		"SELECT id, (SELECT count(*) FROM json_array_elements('[1, 2]') e WHERE tag = 't2') FROM %[1]s p",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + fnPlain + "(1) x WHERE tag = 't1')",
	} {
		f.sameRows(t, q)
	}
	for _, c := range []struct{ q, function string }{
		{"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + fnOut + "(1) x WHERE tag = 't1')", fnOut},
		{"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + fnRow + "() x WHERE tag = 't1')", fnRow},
		{"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM unnest(ARRAY[1]) u WHERE tag = 't1')", "unnest"},
	} {
		for _, mode := range bothModes {
			_, err := rowsRaw(t, f.via, f.sql(c.q, 1), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, c.function+"()") {
				t.Errorf("%s (%v): %v, want 0A000 naming %s()", c.q, mode, err, c.function)
			}
		}
		// PostgreSQL answers (the first two from the function's column).
		if _, err := rowsRaw(t, f.dir, f.sql(c.q, 0), bothModes[0], pgx.TextFormatCode); err != nil {
			t.Errorf("%s directly: %v", c.q, err)
		}
	}
}
