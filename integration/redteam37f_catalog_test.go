package integration

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam37fCatalogChangesNoticed: what held in red team 37: a
// function made straight on the database after the session read its
// catalog, and ALTER TYPE ... ADD ATTRIBUTE tag through phiguard on a
// function's result type, are seen: the statement is refused or answered
// as PostgreSQL answers, never with the outer column's constant.
func TestRedTeam37fCatalogChangesNoticed(t *testing.T) {
	t.Parallel()
	rt, fn, fn2 := uniqueName("rt37p_rt"), uniqueName("rt37p_fn"), uniqueName("rt37p_fn2")
	if _, err := superuser(t).Exec(testContext(t), strings.NewReplacer("RT_", rt, "FN2_", fn2).Replace(`
		CREATE TYPE RT_ AS (n int);
		CREATE FUNCTION FN2_(int) RETURNS SETOF RT_ LANGUAGE plpgsql AS $$DECLARE r RT_; BEGIN RETURN NEXT r; END$$;
		GRANT EXECUTE ON FUNCTION FN2_(int) TO PUBLIC; GRANT ALL ON SCHEMA public TO PUBLIC; GRANT ALL ON TYPE RT_ TO PUBLIC; ALTER TYPE RT_ OWNER TO `+appUser)); err != nil {
		t.Fatal(err)
	}
	f := newSortFixture(t, 30, nil)
	q0 := "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM generate_series(1, 2) g WHERE tag = 't1')"
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := rowsRaw(t, conn, f.sql(q0, side), bothModes[0], pgx.TextFormatCode); err != nil {
			t.Fatal(err)
		}
	}
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		var ddl []string
		if side == 0 {
			ddl = append(ddl, "CREATE FUNCTION "+fn+"(int) RETURNS TABLE (tag text) LANGUAGE sql AS $$SELECT 't1'$$")
		}
		if side == 1 {
			ddl = append(ddl, "ALTER TYPE "+rt+" ADD ATTRIBUTE tag text")
		}
		for _, d := range ddl {
			if _, err := conn.Exec(testContext(t), d, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("%s: %v", d, err)
			}
		}
	}
	for _, q := range []string{
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + fn + "(1) x WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + fn2 + "(1) x WHERE tag <> 't1' OR tag IS NULL)",
	} {
		want, err := rowsRaw(t, f.dir, f.sql(q, 0), bothModes[0], pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%s directly: %v", q, err)
		}
		for _, mode := range bothModes {
			got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			switch {
			case errors.As(err, &pe) && pe.Code == "0A000":
				t.Logf("%s (%v): refused %s", q, mode, pe.Message)
			case err != nil:
				t.Errorf("%s (%v): %v, want the answer or 0A000", q, mode, err)
			case got != want:
				t.Errorf("%s (%v): %q, PostgreSQL %q", q, mode, got, want)
			default:
				t.Logf("%s (%v): same", q, mode)
			}
		}
	}
}
