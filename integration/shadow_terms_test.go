package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestShadowedOperatorBehindTerms: a WHERE phiguard evaluates, narrowed
// in the database by a search term, under a user-defined ~~* (text, text)
// earlier in search_path than pg_catalog (one that is always true). The
// plaintext statement calls that operator and returns every row; the
// term conjunct, made for pg_catalog's ILIKE, lets no candidate through,
// so the database returns no row at all — and the operator probe, a
// hidden column, was read only with a row: phiguard answered no rows
// where the plaintext answers 60. The answer must be the plaintext's or
// a refusal, with candidates (a pattern some value has) and without.
func TestShadowedOperatorBehindTerms(t *testing.T) {
	t.Parallel()
	tw, _, _ := newMatchFixture(t, 60)
	ctx := testContext(t)
	schema := uniqueName("shterms")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.always(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.~~* (LEFTARG = text, RIGHTARG = text, FUNCTION = %[1]s.always)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`SELECT id FROM %s WHERE last ILIKE 'zzzq%%' ORDER BY id`,
		`SELECT id FROM %s WHERE last ILIKE 'smi%%' ORDER BY id`,
		`SELECT id, last FROM %s WHERE last ILIKE 'zzzq%%' ORDER BY last, id LIMIT 5`,
		`SELECT id FROM %s WHERE note ILIKE '%%qqqzz%%' LIMIT 5`,
	} {
		for _, mode := range bothModes {
			want, err := rowsRaw(t, tw.dir, fmt.Sprintf(q, tw.plain), mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rowsRaw(t, tw.via, fmt.Sprintf(q, tw.enc), mode, pgx.TextFormatCode)
			if err != nil {
				wantCode(t, err, "0A000", "")
				continue
			}
			if got != want {
				t.Errorf("%s (%v), ~~* outside pg_catalog earlier in search_path: through phiguard\n%s\ndirectly\n%s", q, mode, got, want)
			}
		}
	}
}
