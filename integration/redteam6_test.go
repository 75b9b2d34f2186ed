package integration

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 6 attacks proxy-side ORDER BY (docs/search.md,
// sqlrewrite/planner_sort.go, guard/protect_sort.go): statements run on
// the sort fixture's plaintext tables directly and on its encrypted twins
// through phiguard must answer alike, or phiguard must refuse with a
// SQLSTATE where PostgreSQL answers, or fail where PostgreSQL fails.

// rt6Outcome runs q on both sides in both protocols: the answers must be
// equal, or (when PostgreSQL answers) phiguard may refuse with refused.
func rt6Outcome(t *testing.T, f *sortFixture, q, refused string, args ...any) {
	t.Helper()
	for _, mode := range bothModes {
		want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode, args...)
		got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode, args...)
		var wpe, gpe *pgconn.PgError
		switch {
		case werr != nil && !errors.As(werr, &wpe):
			t.Fatalf("directly (%v): %s: %v", mode, q, werr)
		case werr != nil && gerr == nil:
			t.Fatalf("%s (%v): PostgreSQL fails (%v), phiguard answers\n%s", q, mode, werr, got)
		case werr != nil && (!errors.As(gerr, &gpe) || (gpe.Code != wpe.Code && gpe.Code != refused)):
			t.Fatalf("%s (%v): PostgreSQL fails with %s, phiguard with %v", q, mode, wpe.Code, gerr)
		case werr != nil:
		case gerr != nil && refused != "" && errors.As(gerr, &gpe) && gpe.Code == refused:
		case gerr != nil:
			t.Fatalf("%s (%v): PostgreSQL answers, phiguard fails: %v", q, mode, gerr)
		case got != want:
			t.Fatalf("%s (%v): through phiguard\n%s\ndirectly\n%s", q, mode, got, want)
		}
	}
}

// TestRedTeam6OutputNames: an ORDER BY name is the select-list entry of
// that output name before any input column, and PostgreSQL names entries
// without an alias too. phiguard named only aliases, columns and function
// calls, so an entry named after its scalar subquery's column or its
// CASE's ELSE was taken for the encrypted input column of that name:
// phiguard sorted by the encrypted column, PostgreSQL by the entry (fixed:
// sqlrewrite/planner_sort_names.go). Two entries of the same name that
// PostgreSQL calls ambiguous (42702) were sorted by the input column.
func TestRedTeam6OutputNames(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	rt6Outcome(t, f, "SELECT p.id, (SELECT p.grp AS name) FROM %[1]s p ORDER BY name, p.id", "")
	rt6Outcome(t, f, "SELECT p.id, (SELECT -p.id AS born) FROM %[1]s p ORDER BY born DESC, name", "")
	rt6Outcome(t, f, "SELECT id, CASE WHEN id > 0 THEN 'a' ELSE (SELECT 'b' AS name) END FROM %[1]s ORDER BY name, id", "")
	rt6Outcome(t, f, "SELECT id, (SELECT p2.grp FROM %[1]s p2 WHERE p2.id = p.id) AS x, (SELECT p.grp AS score) FROM %[1]s p ORDER BY score, born, id LIMIT 20", "")
	// Still the encrypted column: the entry is the column itself.
	rt6Outcome(t, f, "SELECT id, name FROM %[1]s ORDER BY name, id", "")
	rt6Outcome(t, f, "SELECT id, (SELECT 1 AS name) AS grp, name FROM %[1]s ORDER BY name, id", "")
	// Ambiguous in PostgreSQL: an error on both sides.
	rt6Outcome(t, f, "SELECT p.id, a.city AS name, p.name FROM %[1]s p JOIN %[2]s a ON a.person = p.id ORDER BY name, a.id", "0A000")
	rt6Outcome(t, f, "SELECT p.grp AS name, p.name FROM %[1]s p ORDER BY name, id", "0A000")
}

// TestRedTeam6LimitType: LIMIT and OFFSET take a value assignable to
// bigint; phiguard's rewrite cast them explicitly, which also reads text,
// so LIMIT '3'::text or a parameter declared text answered where
// PostgreSQL fails with 42804 (fixed: the rewrite's bounds check keeps the
// expression as written in a branch never taken, and with it the type
// check).
func TestRedTeam6LimitType(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	rt6Outcome(t, f, "SELECT id, name FROM %[1]s ORDER BY name, id LIMIT '3'::text", "")
	rt6Outcome(t, f, "SELECT id, name FROM %[1]s ORDER BY name, id OFFSET '3'::varchar", "")
	rt6Outcome(t, f, "SELECT id, name FROM %[1]s ORDER BY name, id LIMIT $1::text", "", "4")
	// What PostgreSQL accepts still works: numeric rounds, unknown
	// literals and float parameters are assigned.
	rt6Outcome(t, f, "SELECT id, name FROM %[1]s ORDER BY name, id LIMIT 2.5 OFFSET '1'", "")
	rt6Outcome(t, f, "SELECT id, name FROM %[1]s ORDER BY name, id LIMIT $1::float8 OFFSET $2", "", 3.7, 2)
	rt6Outcome(t, f, "SELECT id, name FROM %[1]s ORDER BY name, id LIMIT $1", "", int64(1)<<40)
	// A parameter the client declares text, in a Parse of its own.
	ctx := testContext(t)
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		sd, err := conn.PgConn().Prepare(ctx, "rt6_text_limit", f.sql("SELECT id FROM %[1]s ORDER BY name, id LIMIT $1", side), []uint32{25})
		var pe *pgconn.PgError
		if err == nil {
			res := conn.PgConn().ExecPrepared(ctx, sd.Name, [][]byte{[]byte("2")}, nil, nil).Read()
			err = res.Err
		}
		if !errors.As(err, &pe) || pe.Code != "42804" {
			t.Fatalf("side %d: LIMIT $1 declared text: %v, want 42804", side, err)
		}
	}
}

// TestRedTeam6PostponedSelectList: PostgreSQL evaluates a volatile
// expression of the select list after its Sort, and with a LIMIT an
// expensive one (a function of default cost 100) after the Limit too
// (make_sort_input_target), so SELECT nextval(...) ... ORDER BY ... LIMIT
// 5 draws five values in the order of the result, and f(id) runs for the
// rows returned only. Through phiguard the database evaluates them for
// every row in scan order and the proxy sorts and cuts afterwards: other
// values, the sequence advanced by the whole table, side effects on every
// row, and an error from a row the client would not have got.
func TestRedTeam6PostponedSelectList(t *testing.T) {

	t.Parallel()
	f := newSortFixture(t, 60, nil)
	su := superuser(t)
	for i := range 2 {
		if _, err := su.Exec(testContext(t), fmt.Sprintf("CREATE SEQUENCE %s_seq; GRANT ALL ON %s_seq TO %s", f.people[i], f.people[i], appUser)); err != nil {
			t.Fatal(err)
		}
	}
	fn := uniqueName("rt6_inv")
	if _, err := su.Exec(testContext(t), fmt.Sprintf(`CREATE FUNCTION %[1]s(i int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN RETURN 1/(i-50); END $$; GRANT EXECUTE ON FUNCTION %[1]s(int) TO %[2]s`, fn, appUser)); err != nil {
		t.Fatal(err)
	}
	rt6Outcome(t, f, "SELECT id, nextval('%[1]s_seq') FROM %[1]s ORDER BY name, id LIMIT 5", "0A000")
	rt6Outcome(t, f, "SELECT id, "+fn+"(id) FROM %[1]s WHERE name IS NOT NULL ORDER BY name, id LIMIT 3", "0A000")
	// A set-returning function is postponed too: its arguments are
	// evaluated only for the rows LIMIT lets through.
	rt6Outcome(t, f, "SELECT id, generate_series(1, 10/(id-50)) FROM %[1]s WHERE name IS NOT NULL ORDER BY name, id LIMIT 3", "0A000")
}

// TestRedTeam6CreateTableAs: CREATE TABLE AS was DDL to the planner, its
// query not planned at all, so its ORDER BY on an encrypted column ran in
// the database on ciphertext and LIMIT kept the rows first by ciphertext:
// other rows than PostgreSQL keeps (fixed: the query is planned as a
// SELECT that is not the client's own, and such an ORDER BY refused).
func TestRedTeam6CreateTableAs(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, nil)
	ctx := testContext(t)
	ids := [2]string{}
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		_, err := conn.Exec(ctx, f.sql("CREATE TEMP TABLE rt6_ctas AS SELECT id, grp FROM %[1]s WHERE name IS NOT NULL ORDER BY name, id LIMIT 5", side))
		if side == 1 && err != nil {
			wantCode(t, err, "0A000", "ORDER BY")
			return
		}
		if err != nil {
			t.Fatalf("side %d: %v", side, err)
		}
		if err := conn.QueryRow(ctx, "SELECT string_agg(id::text, ',' ORDER BY id) FROM rt6_ctas").Scan(&ids[side]); err != nil {
			t.Fatal(err)
		}
	}
	if ids[0] != ids[1] {
		t.Fatalf("CREATE TABLE AS ... ORDER BY name LIMIT 5 kept rows %s through phiguard, %s directly", ids[1], ids[0])
	}
	// A CREATE TABLE AS sorting by plaintext columns still runs.
	if _, err := f.via.Exec(ctx, f.sql("CREATE TEMP TABLE rt6_ctas2 AS SELECT id FROM %[1]s ORDER BY grp, id LIMIT 5", 1)); err != nil {
		t.Fatal(err)
	}
}

// TestRedTeam6Held: attacks that held — equal answers, PostgreSQL's own
// error, or a refusal with 0A000.
func TestRedTeam6Held(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, c := range []struct{ q, refused string }{
		// An error on a row the client would not get: PostgreSQL's error,
		// no partial sorted result.
		{"SELECT id, name, 1/(id-50) FROM %[1]s ORDER BY name, id LIMIT 3", ""},
		// A set-returning function multiplies rows before the cut; with
		// arguments from the row it could fail on a row PostgreSQL never
		// reaches (TestRedTeam6PostponedSelectList), so every function
		// but a few cheap built-ins is refused beside a proxy-side sort.
		{"SELECT id, generate_series(1,2) g FROM %[1]s ORDER BY name, id, g LIMIT 7", "0A000"},
		{"SELECT id, generate_series(1,2) g FROM %[1]s ORDER BY name DESC, id LIMIT 7", "0A000"},
		// Output names shadowing input columns, both ways.
		{"SELECT id, grp AS name FROM %[1]s ORDER BY name, id", ""},
		{"SELECT id, name AS grp FROM %[1]s ORDER BY grp, id", ""},
		{"SELECT id, -grp AS x, name FROM %[1]s ORDER BY name, x, id", ""},
		{"SELECT id, name, name FROM %[1]s ORDER BY name, id", ""},
		{`SELECT id, name AS "order" FROM %[1]s ORDER BY "order", id`, ""},
		{"SELECT id, name FROM %[1]s ORDER BY (name), id", ""},
		{"SELECT id, name FROM %[1]s ORDER BY public.%[1]s.name, id", ""},
		// Keys in expressions: refused.
		{"SELECT id, name FROM %[1]s ORDER BY name::text, id", "0A000"},
		{"SELECT id, name::text FROM %[1]s ORDER BY 2, id", "0A000"},
		{`SELECT id, name FROM %[1]s ORDER BY name COLLATE "C", id`, "0A000"},
		{"SELECT id, name FROM %[1]s ORDER BY name || '', id", "0A000"},
		{"SELECT id, score FROM %[1]s ORDER BY -score, id", "0A000"},
		{"SELECT id, upper(name) FROM %[1]s ORDER BY 2, id", "0A000"},
		{"SELECT id, name FROM %[1]s p ORDER BY (p).name, id", "0A000"},
		{"SELECT id, name FROM %[1]s ORDER BY 2 USING >, id", "0A000"},
		// A window function among the plaintext keys fails in the rank
		// PostgreSQL computes (42P20): an error, not an answer.
		{"SELECT id, name FROM %[1]s ORDER BY name, row_number() OVER (), id", "42P20"},
		{"SELECT id, name FROM %[1]s ORDER BY name, (SELECT max(grp) FROM %[1]s), id", ""},
		// LIMIT / OFFSET / FETCH forms.
		{"SELECT id, name FROM %[1]s ORDER BY name, id /* c */ LIMIT 3 -- x", ""},
		{"SELECT id, name FROM %[1]s ORDER BY name, id FETCH FIRST ROW ONLY", ""},
		{"SELECT id, name FROM %[1]s ORDER BY name DESC NULLS LAST, id OFFSET 1000", ""},
		{"SELECT id, name FROM %[1]s ORDER BY name, id OFFSET 2 ROWS", ""},
		{"SELECT id, name FROM %[1]s ORDER BY name, id OFFSET 3 LIMIT 2", ""},
		{"SELECT id, name FROM %[1]s ORDER BY name, id LIMIT 3 OFFSET NULL", ""},
		{"SELECT id, name FROM %[1]s ORDER BY name, id LIMIT (SELECT 3)", "0A000"},
		{"SELECT id, name FROM %[1]s ORDER BY name, id LIMIT 3 OFFSET 2+1", "0A000"},
		{"SELECT id, name FROM %[1]s ORDER BY name, id FETCH FIRST 3 ROWS WITH TIES", "0A000"},
		// Shapes phiguard does not sort: refused.
		{"SELECT id, name FROM %[1]s UNION ALL SELECT id, name FROM %[1]s ORDER BY name, id", "0A000"},
		{"SELECT id, name FROM %[1]s ORDER BY name, id LIMIT 3 FOR UPDATE", "0A000"},
		{"SELECT id FROM %[1]s GROUP BY id, name ORDER BY name, id", "0A000"},
		{"SELECT DISTINCT ON (id) id, name FROM %[1]s ORDER BY id, name", "0A000"},
		{"SELECT id, name FROM %[1]s ORDER BY name, id LIMIT 3; SELECT 1", "0A000"},
		{"SELECT id, name INTO TEMP rt6_into FROM %[1]s ORDER BY name, id LIMIT 5", "0A000"},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT id, name FROM %[1]s ORDER BY name, id", "0A000"},
		{"INSERT INTO %[2]s (id, person, city) SELECT id+1000, id, name FROM %[1]s ORDER BY name, id LIMIT 2 RETURNING id", "0A000"},
	} {
		rt6Outcome(t, f, c.q, c.refused)
	}
	// The session goes on.
	if _, err := f.via.Exec(testContext(t), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}
