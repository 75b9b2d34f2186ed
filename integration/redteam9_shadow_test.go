package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam9ShadowedOperatorsAndAggregates: PostgreSQL resolves an
// operator (ILIKE is ~~*, <, ...) and an aggregate (max, count) by name
// through search_path, and a schema listed before pg_catalog (or an exact
// match on the argument's type) wins. phiguard evaluates the
// pg_catalog one proxy-side; it refuses a statement whose lower() or
// upper() may be shadowed ("shadowed" probe), and must do the same for
// the operators and aggregates it evaluates, not answer differently.
func TestRedTeam9ShadowedOperatorsAndAggregates(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	schema := uniqueName("rt9shadow")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt9_eq(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 = $2 $$;
CREATE OPERATOR %[1]s.~~* (LEFTARG = text, RIGHTARG = text, FUNCTION = %[1]s.rt9_eq);
CREATE FUNCTION %[1]s.rt9_gt(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 > $2 $$;
CREATE OPERATOR %[1]s.< (LEFTARG = text, RIGHTARG = text, FUNCTION = %[1]s.rt9_gt);
CREATE AGGREGATE %[1]s.max(text) (SFUNC = pg_catalog.text_smaller, STYPE = text);
CREATE FUNCTION %[1]s.rt9_cnt(int8, text) RETURNS int8 LANGUAGE sql IMMUTABLE AS $$ SELECT $1 + 100 $$;
CREATE AGGREGATE %[1]s.count(text) (SFUNC = %[1]s.rt9_cnt, STYPE = int8, INITCOND = '0')`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`SELECT id FROM %[1]s WHERE name ILIKE 'smith' ORDER BY id`,
		`SELECT id FROM %[1]s WHERE name < 'b' ORDER BY id`,
		`SELECT max(name) FROM %[1]s`,
		`SELECT count(DISTINCT name) FROM %[1]s`,
	} {
		sameOrRefused(t, f, q, "user-defined operator/aggregate earlier in search_path") // redteam15_shadow_test.go
	}
}
