package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// rt29Policy makes born deterministic: its plaintext type is date, its
// cells text, so an operator = (date, date) outside pg_catalog is what
// PostgreSQL calls on the plaintext while the cells compare with
// pg_catalog's = (text, text), which an index on the cells serves.
const rt29Policy = `version: 1
tables:
  public.%[1]s:
    columns:
      name: {mode: randomized, key: sort-pii, type: text}
      born: {mode: deterministic, key: sort-tag, type: date}
      score: {mode: randomized, key: sort-pii, type: "numeric(6,2)"}
      tag: {mode: deterministic, key: sort-tag, type: text}
  public.%[2]s:
    columns:
      city: {mode: randomized, key: sort-pii, type: text}
`

// TestRedTeam29ShadowedEqualityUnderOr: a comparison on cells under OR
// was sent as (check AND born = '<cell>') OR id = -1, the check run
// "with the comparison, before it". PostgreSQL does not keep that order:
// with an index on the cells and one on id it plans a BitmapOr of the
// two index conditions and rechecks the OR on the rows they return
// only. When no cell equals the constant's, no row came back, the check
// never ran, and phiguard answered 0 rows where the plaintext statement,
// under an = (date, date) listed before pg_catalog (here: the same
// year), finds every row born that year; an UPDATE alike changed
// nothing where the plaintext one changes them. An outer join's ON and
// a NOT EXISTS alike (the check a join filter on the rows a hash of the
// cells matched). And born = NULL (or $1 bound to NULL, in a custom
// plan; or IN (NULL)): the cells' strict = folds to NULL at planning,
// and the WHERE with it, check and all, where the shadowing = (not
// strict here) answers every row. The check now stands in the value
// operand there (sqlrewrite.PlaceOperand): refused, both protocols.
// Without the schema both answers agree (no false refusal).
func TestRedTeam29ShadowedEqualityUnderOr(t *testing.T) {
	t.Parallel()
	f := newSortFixtureWith(t, 1500, nil, rt29Policy)
	ctx := testContext(t)
	su := superuser(t)
	for i := range 2 {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE INDEX ON %[1]s (born); CREATE INDEX ON %[1]s (grp); ANALYZE %[1]s", f.people[i])); err != nil {
			t.Fatal(err)
		}
	}
	// The fixture's birth days are 1 to 28: no row is born on the 30th.
	reads := []shadowCase{
		{sql: `SELECT count(*) FROM %[1]s WHERE born = '1950-06-30' OR id = -1`},
		{sql: `SELECT id FROM %[1]s WHERE born = '1950-06-30' OR grp = 99 ORDER BY id`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born = $1 OR id = -1`, args: []any{"1950-06-30"}},
		{sql: `SELECT count(*) FROM %[1]s WHERE born IN ('1950-06-30', '1951-06-30') OR id = -1`},
		// No OR: the cells' = is strict, so PostgreSQL folds born = NULL
		// to NULL and the WHERE to false before the check could run; the
		// shadowing = here is not strict (NULL is "any year").
		{sql: `SELECT count(*) FROM %[1]s WHERE born = NULL`},
		// A custom plan folds born = $1 bound to NULL alike; a list of
		// one is a comparison with its item.
		{sql: `SELECT count(*) FROM %[1]s WHERE born = $1`, args: []any{nil}},
		{sql: `SELECT count(*) FROM %[1]s WHERE born IN (NULL)`},
		// An outer join's ON and a NOT EXISTS: the check beside the
		// comparison was a join filter, run on matched rows only.
		{sql: `SELECT count(b.id) FROM %[1]s a LEFT JOIN %[1]s b ON b.born = '1950-06-30' AND b.id = a.id`},
		{sql: `SELECT count(*) FROM %[1]s a WHERE NOT EXISTS (SELECT 1 FROM %[1]s b WHERE b.born = '1950-06-30' AND b.id = a.id)`},
		{sql: `SELECT count(*) FROM %[1]s a LEFT JOIN %[1]s b ON a.born = b.born WHERE a.id <= 30`},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b ON a.born = b.born OR a.id = b.id WHERE a.id <= 40 AND b.id <= 40`},
	}
	write := `UPDATE %[1]s SET grp = grp + 100 WHERE born = '1950-06-30' OR id = -1`
	for _, c := range reads {
		f.sameAnswer(t, c)
	}
	f.sameAnswer(t, shadowCase{sql: write})

	schema := uniqueName("rt29shadow")
	if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt29_same_year(date, date) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $2 IS NULL OR pg_catalog.date_trunc('year', $1) OPERATOR(pg_catalog.=) pg_catalog.date_trunc('year', $2) $$;
CREATE OPERATOR %[1]s.= (LEFTARG = date, RIGHTARG = date, FUNCTION = %[1]s.rt29_same_year)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	// The operator is live: directly, the 30th of June finds the year.
	if got, err := rowsRaw(t, f.dir, f.sql(reads[0].sql, 0), pgx.QueryExecModeSimpleProtocol, 0); err != nil || got == "0\n(SELECT 1)" {
		t.Fatalf("directly under the shadowing schema: %q, %v; want the rows born in 1950", got, err)
	}
	for _, c := range reads {
		f.refusedShadowedCol(t, c, "born")
	}
	before, err := rowsRaw(t, f.via, f.sql(`SELECT id, grp FROM %[1]s ORDER BY id`, 1), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.refusedShadowedCol(t, shadowCase{sql: write}, "born")
	after, err := rowsRaw(t, f.via, f.sql(`SELECT id, grp FROM %[1]s ORDER BY id`, 1), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil || after != before {
		t.Errorf("the refused write changed the table (%v)", err)
	}
}

// TestRedTeam29SortedReadNullComparison: a read phiguard sorts itself
// (ORDER BY a randomized column) is sent as RewriteSort writes it, with
// one check of its comparisons on cells first in the WHERE (GateWhere).
// born = NULL, or born = $1 bound to NULL in a custom plan, was folded
// to NULL at planning, the WHERE to false with the check in it (or a
// subquery's WHERE, pulled up into it), and phiguard answered no row
// where the plaintext under a shadowing = that is not strict answers
// rows. Such a comparison now gets its check in its value operand too
// (sqlrewrite.sortedPlacements, PlaceOperand): refused, both protocols,
// custom and generic plans. Under OR the gate runs (refused); IS NOT
// DISTINCT FROM is the proxy's filter, whose probe refuses; <> stays
// pg_catalog's (answered as the plaintext). Without the schema both
// answers agree.
func TestRedTeam29SortedReadNullComparison(t *testing.T) {
	t.Parallel()
	f := newSortFixtureWith(t, 200, nil, rt29Policy)
	ctx := testContext(t)
	reads := []shadowCase{
		{sql: `SELECT name FROM %[1]s WHERE born = NULL ORDER BY name LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born = $1 ORDER BY name LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name FROM %[1]s WHERE born = '1950-06-30' OR grp = 99 ORDER BY name LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born IN (NULL) ORDER BY name LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born IN ($1) ORDER BY name LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name FROM %[1]s WHERE NULL = born ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE $1 = born ORDER BY name, id LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name FROM %[1]s WHERE born = ($1) ORDER BY name, id LIMIT 3`, args: []any{nil}},
		{sql: `SELECT name FROM %[1]s WHERE (born = NULL) IS NOT FALSE ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE NOT (born = $1) IS NULL ORDER BY name, id LIMIT 3`, args: []any{nil}},
		// Beside a filter phiguard evaluates (a BETWEEN on a randomized
		// column), and a plaintext leaf of an OR it evaluates.
		{sql: `SELECT name FROM %[1]s WHERE score BETWEEN 0 AND 50 AND born = NULL ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born = $1 AND score BETWEEN $2 AND $3 ORDER BY name, id LIMIT 3`, args: []any{nil, 0, 50}},
		{sql: `SELECT name FROM %[1]s WHERE born = NULL OR score > 90 ORDER BY name, id LIMIT 3`},
		// A subquery's WHERE: pulled up into the statement's, or an
		// uncorrelated EXISTS (an InitPlan beside the gate).
		{sql: `SELECT name FROM (SELECT * FROM %[1]s WHERE born = NULL) s ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s a WHERE EXISTS (SELECT 1 FROM %[1]s b WHERE b.born = $1) ORDER BY name, id LIMIT 3`, args: []any{nil}},
		// The proxy's filter, whose probe of = refuses under the schema.
		{sql: `SELECT name FROM %[1]s WHERE born IS NOT DISTINCT FROM NULL ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born IS NOT DISTINCT FROM $1 ORDER BY name, id LIMIT 3`, args: []any{nil}},
		// <> is pg_catalog's under the schema: the same answer.
		{sql: `SELECT name FROM %[1]s WHERE NOT (born <> NULL) ORDER BY name, id LIMIT 3`, pgCatalog: true},
		{sql: `SELECT name FROM %[1]s WHERE NOT (born <> $1) ORDER BY name, id LIMIT 3`, args: []any{nil}, pgCatalog: true},
		{sql: `SELECT name FROM %[1]s WHERE born <> '1950-06-30' AND born NOT IN ($1) ORDER BY name, id LIMIT 3`, args: []any{"1951-02-03"}, pgCatalog: true},
	}
	for _, c := range reads {
		f.sameAnswer(t, c)
	}
	schema := uniqueName("rt29sorted")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt29_same_year(date, date) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $2 IS NULL OR pg_catalog.date_trunc('year', $1) OPERATOR(pg_catalog.=) pg_catalog.date_trunc('year', $2) $$;
CREATE OPERATOR %[1]s.= (LEFTARG = date, RIGHTARG = date, FUNCTION = %[1]s.rt29_same_year)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	// The operator is live: directly, born = NULL finds every row.
	if got, err := rowsRaw(t, f.dir, f.sql(`SELECT count(*) FROM %[1]s WHERE born = NULL`, 0), pgx.QueryExecModeSimpleProtocol, 0); err != nil || got != "200\n(SELECT 1)" {
		t.Fatalf("directly under the shadowing schema: %q, %v; want 200 rows", got, err)
	}
	shadowedAnswers := func() {
		t.Helper()
		for _, c := range reads {
			if c.pgCatalog {
				f.sameAnswer(t, c)
				continue
			}
			f.refusedShadowedCol(t, c, "born")
		}
	}
	shadowedAnswers()
	// A generic plan keeps $1 a parameter: the gate runs; refused alike.
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
			t.Fatal(err)
		}
	}
	shadowedAnswers()
}

// refusedShadowedCol wants c refused through phiguard in both protocols,
// naming column col of the encrypted people table.
func (f *sortFixture) refusedShadowedCol(t *testing.T, c shadowCase, col string) {
	t.Helper()
	for _, mode := range bothModes {
		got, err := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, 0, c.args...)
		if err == nil {
			want, _ := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, 0, c.args...)
			t.Errorf("%s (%v) under a shadowing = through phiguard: answered\n%s\nwant 0A000 (directly:\n%s)", c.sql, mode, got, want)
			continue
		}
		wantCode(t, err, "0A000", f.people[1]+"."+col)
	}
}

// TestRedTeam29ParenthesizedOperand: an operand of a comparison on
// cells written in parentheses, `(tag) = 't1'`. The operator check was
// opened at the column inside its parenthesis, `((check AND tag) =
// '<cell>')`, and PostgreSQL failed the statement (42804, argument of
// AND must be boolean) that phiguard answered before the check; the
// check now wraps the parentheses too. Both protocols, as the plaintext
// twin answers; under a shadowing = the same shapes are refused (0A000).
func TestRedTeam29ParenthesizedOperand(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	reads := []shadowCase{
		{sql: `SELECT id FROM %[1]s WHERE (tag) = ('T1') ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE (tag) = 't1' ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE ((tag)) = $1 ORDER BY id`, args: []any{"t2"}},
		{sql: `SELECT id FROM %[1]s WHERE ('t3') = (%[1]s.tag) OR grp = 1 ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE (tag) IN ('t1', 't2') ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE (tag) <> ('t1') ORDER BY id`},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b ON (a.tag) = (b.tag)`},
		{sql: `SELECT name, id FROM %[1]s WHERE (tag) = 't1' ORDER BY name, id`},
	}
	for _, c := range reads {
		f.sameAnswer(t, c)
	}
	f.sameAnswer(t, shadowCase{sql: `UPDATE %[1]s SET grp = grp + 100 WHERE (tag) = ('t5')`})
	f.sameAnswer(t, shadowCase{sql: `SELECT id, grp FROM %[1]s ORDER BY id`})

	schema := uniqueName("rt29paren")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt29_ieq(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT pg_catalog.lower($1) OPERATOR(pg_catalog.=) pg_catalog.lower($2) $$;
CREATE OPERATOR %[1]s.= (LEFTARG = text, RIGHTARG = text, FUNCTION = %[1]s.rt29_ieq)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range reads {
		if c.sql == reads[5].sql {
			f.sameAnswer(t, c) // <> stays pg_catalog's
			continue
		}
		f.refusedShadowed(t, c)
	}
}
