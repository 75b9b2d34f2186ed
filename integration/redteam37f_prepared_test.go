package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam37fPreparedAcrossTypeChange: a statement prepared while a
// function's result type lacked tag, executed again after ALTER TYPE ...
// ADD ATTRIBUTE tag through phiguard: PostgreSQL binds tag to the
// function's column then. Held in red team 37: refused after the change
// (the session notices its own DDL), the same answer before.
func TestRedTeam37fPreparedAcrossTypeChange(t *testing.T) {
	t.Parallel()
	rt, fn := uniqueName("rt37q_rt"), uniqueName("rt37q_fn")
	if _, err := superuser(t).Exec(testContext(t), strings.NewReplacer("RT_", rt, "FN_", fn).Replace(`
		CREATE TYPE RT_ AS (n int);
		CREATE FUNCTION FN_(int) RETURNS SETOF RT_ LANGUAGE plpgsql AS $$DECLARE r RT_; BEGIN RETURN NEXT r; END$$;
		GRANT EXECUTE ON FUNCTION FN_(int) TO PUBLIC; ALTER TYPE RT_ OWNER TO `+appUser)); err != nil {
		t.Fatal(err)
	}
	f := newSortFixture(t, 30, nil)
	q := "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + fn + "(1) x WHERE tag <> $1 OR tag IS NULL)"
	run := func(step string) {
		want, err := rowsRaw(t, f.dir, f.sql(q, 0), pgx.QueryExecModeCacheStatement, pgx.TextFormatCode, "t1")
		if err != nil {
			t.Fatalf("%s directly: %v", step, err)
		}
		got, err := rowsRaw(t, f.via, f.sql(q, 1), pgx.QueryExecModeCacheStatement, pgx.TextFormatCode, "t1")
		switch {
		case err != nil && !strings.Contains(err.Error(), "SQLSTATE 0A000"):
			t.Errorf("%s: %v, want the answer or 0A000", step, err)
		case err != nil:
			t.Logf("%s: refused: %v", step, err)
		case got != want:
			t.Errorf("%s: %q, PostgreSQL %q", step, got, want)
		default:
			t.Logf("%s: same (%d lines)", step, strings.Count(got, "\n"))
		}
	}
	run("before")
	if _, err := f.via.Exec(testContext(t), "ALTER TYPE "+rt+" ADD ATTRIBUTE tag text", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	run("after ALTER TYPE through phiguard")
	run("again")
}
