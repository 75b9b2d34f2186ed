package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestShadowProbeNotFooledByItsOwnOperators: the probe that refuses a
// statement whose WHERE operator may be another than pg_catalog's runs
// under the client's search_path, so its own comparisons must be
// pg_catalog's too. A schema before pg_catalog with an = on name that is
// never true (and one on oid) made the probe's `oprname IN (...)` find
// nothing, and an ILIKE that is equality there was answered by phiguard
// as pg_catalog's ILIKE: another answer than the plaintext's. Now the
// statement gives the plaintext's answer or is refused (0A000).
func TestShadowProbeNotFooledByItsOwnOperators(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	schema := uniqueName("shadowprobe")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.never(name, name) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT false $$;
CREATE OPERATOR %[1]s.= (LEFTARG = name, RIGHTARG = name, FUNCTION = %[1]s.never);
CREATE FUNCTION %[1]s.never_oid(oid, oid) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT false $$;
CREATE OPERATOR %[1]s.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = %[1]s.never_oid);
CREATE FUNCTION %[1]s.same(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR %[1]s.~~* (LEFTARG = text, RIGHTARG = text, FUNCTION = %[1]s.same);
CREATE FUNCTION %[1]s.lower(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT pg_catalog.upper($1) $$`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	refused := 0
	for _, q := range []string{
		`SELECT id FROM %[1]s WHERE name ILIKE 's%%' ORDER BY id`,
		`SELECT id FROM %[1]s WHERE name ILIKE '%%' LIMIT 5`,
	} {
		refused += sameOrRefused(t, f, q, "the probe's own = shadowed")
	}
	// lower() alone: the operator probe now finds nothing of its own.
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("DROP OPERATOR %s.~~* (text, text)", schema)); err != nil {
		t.Fatal(err)
	}
	refused += sameOrRefused(t, f, `SELECT id FROM %[1]s WHERE lower(name) LIKE 's%%' ORDER BY id`, "the probe's own = shadowed")
	t.Logf("%d of 6 executions refused", refused)
}

// sameOrRefused runs q (a format for the table) through phiguard and
// directly in both protocols: the plaintext's answer, or a refusal
// (0A000), counted; why says what would make them differ.
func sameOrRefused(t *testing.T, f *sortFixture, q, why string) int {
	t.Helper()
	refused := 0
	for _, mode := range bothModes {
		want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, 0)
		if err != nil {
			wantCode(t, err, "0A000", "")
			refused++
			continue
		}
		if got != want {
			t.Errorf("%s (%v), %s: through phiguard\n%s\ndirectly\n%s", q, mode, why, got, want)
		}
	}
	return refused
}
