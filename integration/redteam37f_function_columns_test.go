package integration

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam37fFunctionSyntaxNotAFunction: a call in FROM that
// PostgreSQL does not resolve to a function of that name has columns no
// function of that name tells. dc('(1,t1)'), dc a domain over a
// composite type with a tag, is a cast to dc (func_get_detail's
// FUNCDETAIL_COERCION: a type's name called with one argument); r(h),
// r a column of h of a composite type with a tag, is h.r (a projection,
// ParseComplexProjection), and so is r(s) for a subquery's output r. In
// each, tag is the result's column, not the outer encrypted one, and
// PostgreSQL compares it with 't1' as written. Stop 37 took the name for
// a function that surely lacks tag (no function called dc or r) and sent
// 't1' encrypted, compared with the inner plain tag: no rows where
// PostgreSQL has all of them.
func TestRedTeam37fFunctionSyntaxNotAFunction(t *testing.T) {
	t.Parallel()
	rt, dc, wrap, holder := uniqueName("rt37f_rt"), uniqueName("rt37f_dc"), uniqueName("rt37f_wrap"), uniqueName("rt37f_holder")
	if _, err := superuser(t).Exec(testContext(t), strings.NewReplacer("RT_", rt, "DC_", dc, "WRAP_", wrap, "HOLDER_", holder).Replace(`
		CREATE TYPE RT_ AS (n int, tag text);
		CREATE DOMAIN DC_ AS RT_;
		CREATE TYPE WRAP_ AS (inner_row RT_);
		CREATE TABLE HOLDER_ (id int, inner_row RT_, wrapped DC_);
		INSERT INTO HOLDER_ VALUES (1, ROW(1, 't1'), ROW(2, 't1'));
		GRANT SELECT ON HOLDER_ TO PUBLIC`)); err != nil {
		t.Fatal(err)
	}
	f := newSortFixture(t, 30, nil) // its sessions read the catalog after the types were made
	for _, q := range []string{
		// A cast to a domain over a composite type, in function syntax.
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + dc + "('(1,t1)') x WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM public." + dc + "('(1,t1)') WITH ORDINALITY x WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + holder + " h, LATERAL " + dc + "(h.inner_row) x WHERE tag = 't1')",
		// ... behind a * of a WITH query or a subquery, in a JOIN.
		"WITH w AS (SELECT * FROM " + dc + "('(1,t1)') x) SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM w WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT * FROM " + holder + " h, LATERAL inner_row(h) x) s WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + holder + " h JOIN LATERAL wrapped(h) x ON true WHERE tag = 't1')",
		"UPDATE %[1]s p SET grp = grp WHERE EXISTS (SELECT 1 FROM " + dc + "('(1,t1)') x WHERE tag = 't1') RETURNING id",
		// ... which a NATURAL JOIN joins on (p.tag = x.tag).
		"SELECT count(*) FROM %[1]s p NATURAL JOIN " + dc + "('(1,t1)') x",
		"SELECT count(*) FROM %[1]s p NATURAL JOIN (" + holder + " h CROSS JOIN LATERAL inner_row(h) x)",
		// A projection of a composite column, in function syntax.
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + holder + " h, LATERAL inner_row(h) x WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM " + holder + " h, LATERAL wrapped(h) x WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT ROW(ROW(1, 't1')::" + rt + ")::" + wrap + " AS w) s, LATERAL inner_row(s.w) x WHERE tag = 't1')",
		// ... of a subquery's output, which no catalog lists.
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT ROW(1, 't1')::" + rt + " AS made) s, LATERAL made(s) x WHERE tag = 't1')",
	} {
		want, err := rowsRaw(t, f.dir, f.sql(q, 0), bothModes[0], pgx.TextFormatCode)
		if err != nil || want == "" || strings.HasPrefix(want, "0\n") {
			t.Fatalf("%s directly: %q, %v (want rows)", q, want, err)
		}
		for _, mode := range bothModes {
			got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			switch {
			case errors.As(err, &pe) && pe.Code == "0A000":
				// refused: allowed
			case err != nil:
				t.Errorf("%s (%v): %v", q, mode, err)
			case got != want:
				t.Errorf("%s (%v): %q, PostgreSQL %q", q, mode, got, want)
			}
		}
	}
}
