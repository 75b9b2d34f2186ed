package integration

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 38b: the bare GROUP BY name sent qualified (8da882d), the
// bare ORDER BY and DISTINCT ON name sent qualified where no output
// column has it (20372a2), and the lack probe's WHERE after a FROM
// clause (ac7e179). Statements use %[1]s (people, tag encrypted
// deterministic), {z} (a plain table without tag, with columns named
// by reserved words "limit" and "order") and {w} (a plain table with a
// plain tag, which the catalog binds the name to).

// rt38bTables makes {z} and {w} once, alike for both sides.
func rt38bTables(t *testing.T) (z, w string) {
	t.Helper()
	z, w = uniqueName("rt38bz"), uniqueName("rt38bw")
	if _, err := superuser(t).Exec(testContext(t), "CREATE TABLE "+z+` (n int, "limit" int, "order" int, label text); INSERT INTO `+z+
		` VALUES (1, 1, 2, 't1'), (2, 2, 1, 't2'), (3, NULL, NULL, NULL); CREATE TABLE `+w+" (person int, tag text); INSERT INTO "+w+
		" VALUES (1, 't1'), (2, 't2'), (3, NULL), (4, 't0'); GRANT ALL ON "+z+", "+w+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	return z, w
}

// rt38bRun runs q directly (plaintext people) and through phiguard, in
// both protocols; it reports a difference: rows unlike PostgreSQL's, an
// error where PostgreSQL answers other than a refusal (0A000, allowed
// only with mayRefuse), or rows where PostgreSQL fails. It returns
// whether phiguard answered alike.
func rt38bRun(t *testing.T, f *sortFixture, z, w, q string, mayRefuse bool) (alike, refusedByPG bool) {
	t.Helper()
	alike = true
	for _, mode := range bothModes {
		var out [2]string
		var errs [2]error
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			sql := strings.NewReplacer("{z}", z, "{w}", w).Replace(f.sql(q, side))
			out[side], errs[side] = rowsRaw(t, conn, sql, mode, pgx.TextFormatCode)
		}
		var gpe, wpe *pgconn.PgError
		refused := errs[1] != nil && errors.As(errs[1], &gpe) && gpe.Code == "0A000"
		switch {
		case errs[0] == nil && errs[1] == nil && out[0] == out[1]:
		case errs[0] == nil && refused && mayRefuse:
			alike = false
		case errs[0] != nil && errs[1] != nil && errors.As(errs[0], &wpe):
			refusedByPG = true
		default:
			alike = false
			t.Errorf("%s (%v): directly %.120q %v, through phiguard %.120q %v", q, mode, out[0], errs[0], out[1], errs[1])
		}
	}
	return alike, refusedByPG
}

// TestRedTeam38bReservedLabelInOn: a column named by a reserved word
// (limit, order) written after a qualifier in a JOIN's ON is a column
// label, not the LIMIT or ORDER BY clause; the lack probe's WHERE,
// written after the level's FROM clause, went between the qualifier's
// dot and the label ("ON a. WHERE (...) IS NULLlimit = b.n"): a syntax
// error (42601) where PostgreSQL answers.
func TestRedTeam38bReservedLabelInOn(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	z, w := rt38bTables(t)
	for _, q := range []string{
		"SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM {z} a JOIN {z} b ON a.limit = b.n AND tag = 't1')",
		"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n = b.order AND tag = 't1') FROM %[1]s ORDER BY id",
		"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON tag = 't1' AND a.n = b.limit) FROM %[1]s ORDER BY id",
	} {
		rt38bRun(t, f, z, w, q, false)
	}
}

// TestRedTeam38bNoSpaceAfterFrom: the lack probe's WHERE written right
// after a FROM clause whose last token touches the next clause's
// keyword ('t1'GROUP BY, valid SQL) ran into it: "IS NULLGROUP", a
// syntax error (42601) where PostgreSQL answers.
func TestRedTeam38bNoSpaceAfterFrom(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	z, w := rt38bTables(t)
	for _, q := range []string{
		"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n = b.n AND tag = 't1'GROUP BY a.n LIMIT 1) FROM %[1]s ORDER BY id",
		"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n = b.n AND tag = 't1'LIMIT 1) FROM %[1]s ORDER BY id",
		"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n = b.n AND tag = 't1'UNION ALL SELECT 0 LIMIT 1) FROM %[1]s ORDER BY id",
	} {
		rt38bRun(t, f, z, w, q, false)
	}
}

// TestRedTeam38bCollationFor: COLLATION FOR (x) in a JOIN's ON has a
// FOR outside parentheses; the FROM clause's end was taken to be there
// (FOR UPDATE), and the lack probe's WHERE went between COLLATION and
// FOR: a syntax error (42601) where PostgreSQL answers.
func TestRedTeam38bCollationFor(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	z, w := rt38bTables(t)
	for _, q := range []string{
		`SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n = b.n AND collation for (a.label) = '"default"' AND tag = 't1') FROM %[1]s ORDER BY id`,
		`SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON tag = 't1' AND COLLATION /* c */ FOR (a.label) = '"default"') FROM %[1]s ORDER BY id`,
	} {
		rt38bRun(t, f, z, w, q, false)
	}
}

// TestRedTeam38bProbeInNestedFrom: the lack probe's WHERE goes after
// the FROM keyword before the level's first item's first place; for a
// subquery item without a select list, (SELECT FROM x) s, that was
// the subquery's own FROM, and the probe went into it: after the
// subquery's own WHERE, a second WHERE (42601 where PostgreSQL
// answers). At 20372a2, whose probe named items by alias, it also
// probed a subquery item of the probed item's name instead of it: once
// {z} gained tag straight on the database, PostgreSQL answered 120 per
// person and phiguard 0 (the third statement); main's probe, naming
// the table again (red team 38), refuses that one.
func TestRedTeam38bProbeInNestedFrom(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	z, w := rt38bTables(t)
	for _, q := range []string{
		"SELECT id, (SELECT count(*) FROM (SELECT FROM {z}) s, {z} b HAVING tag IS NULL) FROM %[1]s ORDER BY id",
		"SELECT id, (SELECT count(*) FROM (SELECT FROM {z} WHERE n > 1) s JOIN {z} b ON tag = 't1') FROM %[1]s ORDER BY id",
	} {
		rt38bRun(t, f, z, w, q, false)
	}
	for _, mode := range bothModes {
		lackProbeRun(t, f, "SELECT id, (SELECT count(*) FROM (SELECT FROM %[2]s b) s JOIN {z} b ON tag = 't1') FROM %[1]s ORDER BY id", mode)
	}
}

// TestRedTeam38bGroupByRow: PostgreSQL flattens a GROUP BY list written
// in parentheses (flatten_grouping_sets): GROUP BY (tag, label) is
// GROUP BY tag, label, and the bare tag an output column's name where
// the level's FROM lacks it. phiguard took the name inside for a plain
// column and sent it qualified with the outer table the catalog binds
// it to ({w}.tag): grouped by another expression, the select list's
// z.n was no longer grouped (42803 where PostgreSQL answers 3).
func TestRedTeam38bGroupByRow(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	z, w := rt38bTables(t)
	for _, q := range []string{
		"SELECT id, (SELECT (SELECT count(*) FROM (SELECT z.n AS tag FROM {z} z GROUP BY (tag, label)) g) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
		"SELECT id, (SELECT (SELECT count(*) FROM (SELECT z.n AS tag FROM {z} z GROUP BY ((tag, label), n)) g) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
	} {
		rt38bRun(t, f, z, w, q, true)
	}
}

// rt38bHeld are the shapes tried that held: answered as PostgreSQL
// does, or refused (0A000), or failing where PostgreSQL fails.
var rt38bHeld = []string{
	// Bare ORDER BY / DISTINCT ON names (20372a2): an output column's
	// name first, then the catalog's column, sent qualified.
	"SELECT id, (SELECT person FROM {w} ORDER BY tag DESC NULLS LAST, person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM {w} x ORDER BY tag NULLS FIRST, person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT x.person AS tag FROM {w} x ORDER BY tag DESC LIMIT 1) FROM %[1]s ORDER BY id",
	`SELECT id, (SELECT x.person AS "Tag" FROM {w} x ORDER BY tag DESC NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id`,
	`SELECT id, (SELECT x.person AS "tag" FROM {w} x ORDER BY "tag" DESC LIMIT 1) FROM %[1]s ORDER BY id`,
	"SELECT id, (SELECT string_agg(person::text, ',' ORDER BY tag DESC) FROM {w}) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT string_agg(person::text, ',' ORDER BY tag DESC) AS tag FROM {w}) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(r) FROM (SELECT row_number() OVER (ORDER BY tag DESC NULLS LAST) * person AS r FROM {w}) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(r) FROM (SELECT person AS tag, row_number() OVER (ORDER BY tag DESC) * person AS r FROM {w}) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(r) FROM (SELECT rank() OVER (PARTITION BY tag ORDER BY person) AS r FROM {w}) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT DISTINCT ON (tag) person FROM {w} ORDER BY tag, person) d) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM (SELECT DISTINCT ON (tag) person, tag AS t FROM {w} ORDER BY tag DESC, person) d LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT DISTINCT ON (tag) person AS tag FROM {w}) d) FROM %[1]s ORDER BY id",
	`SELECT id, (SELECT person FROM {w} ORDER BY tag COLLATE "C" DESC NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id`,
	"SELECT id, (SELECT person FROM {w} ORDER BY (tag) DESC NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM {w} ORDER BY 1, tag LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM {w} ORDER BY tag USING > NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT l.x FROM {w}, LATERAL (SELECT person AS x ORDER BY tag LIMIT 1) l ORDER BY 1 DESC LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT (SELECT n FROM {z} ORDER BY tag, n LIMIT 1) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT (SELECT n AS tag FROM {z} ORDER BY tag DESC NULLS LAST LIMIT 1) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM {w} UNION ALL SELECT person FROM {w} ORDER BY tag LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT tag FROM {w} UNION ALL SELECT tag FROM {w} ORDER BY tag DESC NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT person FROM {w} ORDER BY tag FETCH FIRST 1 ROWS WITH TIES) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT lower(tag) FROM {w} ORDER BY tag DESC LIMIT 2) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM (SELECT person, x.tag::text FROM {w} x ORDER BY tag DESC NULLS LAST LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, (SELECT 'zz' AS tag) FROM {w} ORDER BY tag DESC, person LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, (SELECT 'zz' AS tag UNION SELECT 'zz') FROM {w} ORDER BY tag DESC, person LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, (VALUES ('zz')) AS tag FROM {w} ORDER BY tag DESC, person LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, CASE WHEN person > 0 THEN 'zz' ELSE x.tag END FROM {w} x ORDER BY tag DESC, person LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, (x).tag FROM {w} x ORDER BY tag DESC NULLS LAST, person LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT s.*, person AS p FROM (SELECT 'zz' AS tag) s, {w} ORDER BY tag DESC, person LIMIT 1) q) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, x FROM {w} x ORDER BY tag DESC NULLS LAST, person LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, ARRAY[tag] FROM {w} x ORDER BY tag DESC NULLS LAST, person LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, 'zz'::text AS tag FROM {w} x ORDER BY tag DESC NULLS LAST, 1 LIMIT 1) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT p FROM (SELECT person AS p, nullif(tag, 'x') FROM {w} ORDER BY tag DESC NULLS LAST, 1 LIMIT 1) s) FROM %[1]s ORDER BY id",
	// Bare GROUP BY names (8da882d): the level's own FROM column first.
	"SELECT id, (SELECT count(*) FROM (SELECT tag FROM {w} GROUP BY ROLLUP (tag)) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 AS tag FROM {w} GROUP BY CUBE (tag, person)) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 FROM {w} GROUP BY GROUPING SETS ((tag), (person), ())) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT person AS tag FROM {w} GROUP BY tag, person) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT max(person) AS tag FROM {w} GROUP BY tag HAVING tag IS NOT NULL) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT (SELECT count(*) FROM {z} GROUP BY tag LIMIT 1) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT (SELECT 1 AS tag FROM {z} GROUP BY tag LIMIT 1) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 FROM {w} a JOIN {w} b USING (person) GROUP BY tag) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 FROM {w} a JOIN {z} b ON a.person = b.n GROUP BY tag) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 FROM {z} b, LATERAL (SELECT 1 AS tag FROM {w} GROUP BY tag) l) g) FROM %[1]s ORDER BY id",
	// The lack probe's WHERE after a FROM clause (ac7e179).
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n IS DISTINCT FROM b.n AND tag = 't1') FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n BETWEEN SYMMETRIC b.n AND 3 AND tag = 't1') FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} TABLESAMPLE BERNOULLI (100) REPEATABLE (1) HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(o) FROM ROWS FROM (generate_series(1, 2)) WITH ORDINALITY AS g(v, o) HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b USING (n) AS j HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} /* FROM x WHERE */ -- ORDER BY\n HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.label = $$ ) ORDER $$ OR tag = 't1') FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT tag = 't1' FROM {z} ORDER BY n LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT tag = 't1' FROM {z} ORDER BY n LIMIT 1 FOR SHARE) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(c) FROM (SELECT count(*) OVER w + (tag IS NULL)::int AS c FROM {z} WINDOW w AS (ORDER BY n)) s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT tag = 't1' FROM {z} OFFSET 1 FETCH FIRST 1 ROW ONLY) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT 1 FROM {z} HAVING tag IS NULL INTERSECT SELECT 1 FROM {z} HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(l.v) FROM {z}, LATERAL (SELECT {z}.n + (tag IS NULL)::int AS v) l) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z}, XMLTABLE('/a' PASSING '<a>1</a>'::xml COLUMNS v int PATH '.') x HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON (date '2020-01-01', date '2020-02-01') OVERLAPS (date '2020-01-15', date '2020-03-01') AND tag = 't1') FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(c) FROM (SELECT count(*) AS c FROM {z} HAVING tag IS NULL) q) FROM %[1]s ORDER BY id",
	`SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n = b.n AND a.label COLLATE "C" = 't1' AND tag = 't1') FROM %[1]s ORDER BY id`,
	"SELECT id, (SELECT count(*) FROM ONLY {z} HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM ({z} a JOIN {z} b ON tag = 't1') j) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM ({z} a JOIN {z} b ON tag = 't1')) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a LEFT JOIN {z} b ON a.n = b.n + 5 AND tag = 't1') FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n = b.n AND tag = 't1')FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(a.limit) FROM {z} a HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.order = b.n AND tag = 't1' AND b.limit IS NOT NULL) FROM %[1]s ORDER BY id",
	"SELECT id, ARRAY(SELECT n FROM {z} a JOIN {z} b USING (n) WHERE false UNION ALL SELECT n FROM {z} HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT 1; SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON tag = 't1') FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON tag = 't1' -- x\n) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON tag = 't1' WINDOW w AS ()) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a CROSS JOIN LATERAL (SELECT tag = 't1' AS s) l WHERE l.s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a JOIN LATERAL (SELECT tag = 't1' AS s) l ON l.s) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a NATURAL JOIN {z} b HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} a, {z} b HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM ({z} a) HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT tag = 't1' FROM {z} a ORDER BY n LIMIT 1 FOR UPDATE OF a) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT tag = 't1' FROM public.{z} ORDER BY n LIMIT 1) FROM %[1]s ORDER BY id",
	`SELECT id, (SELECT tag = 't1' FROM {z} "A b" ORDER BY n LIMIT 1) FROM %[1]s ORDER BY id`,
	"SELECT id, (SELECT tag = 't1' FROM {z} * ORDER BY n LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT tag = 't1' FROM {z} a INNER JOIN {z} b USING (n) AS j ORDER BY n LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT 1 FROM {z} HAVING tag IS NULL UNION SELECT 2 FROM {z} HAVING tag = 't1' ORDER BY 1 LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT FROM (SELECT FROM {z}) s JOIN {z} b ON tag = 't1') IS NULL FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM {z} b JOIN (SELECT FROM {z}) s ON tag = 't1') FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT n FROM {z}) s JOIN {z} b ON tag = 't1' AND s.n = b.n) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM LATERAL (SELECT FROM {z}) s, {z} b HAVING tag IS NULL) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT b.n IS DISTINCT FROM 1 FROM {z} b JOIN {z} c USING (n) WHERE tag = 't1' ORDER BY b.n LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT b.n IS NOT DISTINCT FROM 1 FROM {z} b JOIN {z} c ON b.n = c.n AND tag = 't1' ORDER BY b.n LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT b.limit AS order FROM {z} b JOIN {z} c ON b.n = c.n AND tag = 't1' ORDER BY b.n LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, l.person FROM %[1]s p, LATERAL (SELECT person FROM {w} ORDER BY tag DESC NULLS LAST LIMIT 1) l ORDER BY id",
	"SELECT id, l.c FROM %[1]s p, LATERAL (SELECT count(*) AS c FROM (SELECT 1 FROM {w} GROUP BY tag) g) l ORDER BY id",
	"SELECT id, (WITH c AS (SELECT person FROM {w} ORDER BY tag DESC NULLS LAST LIMIT 1) SELECT person FROM c) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM {w} ORDER BY tag DESC NULLS LAST LIMIT 1) FROM %[1]s WHERE tag = 't1' ORDER BY id",
	// Qualifiers of the catalog's binding that need quoting or a schema.
	`SELECT id, (SELECT person FROM {w} "X y" ORDER BY tag DESC NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id`,
	"SELECT id, (SELECT person FROM public.{w} ORDER BY tag DESC NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM ONLY {w} ORDER BY tag DESC NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT person FROM {w} AS tag ORDER BY tag DESC NULLS LAST LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 FROM {w} AS tag GROUP BY tag) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 FROM {w} GROUP BY (tag, person)) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 FROM {w} GROUP BY ROW(tag, person)) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 AS tag FROM {w} GROUP BY (tag, 1)) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT (SELECT count(*) FROM (SELECT 1 AS x FROM {z} GROUP BY (tag, n)) g) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT (SELECT count(*) FROM (SELECT 1 AS x FROM {z} GROUP BY ROW(tag, n)) g) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT (SELECT count(*) FROM (SELECT n AS tag FROM {z} GROUP BY ROLLUP ((tag, label))) g) FROM {w} ORDER BY person LIMIT 1) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT DISTINCT ON (tag) 1 AS \"Tag\" FROM {w} ORDER BY tag) d) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT DISTINCT ON ((tag)) person FROM {w} ORDER BY (tag)) d) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT count(*) FROM (SELECT 1 FROM {w} a JOIN {w} b ON a.person = b.person + 1 GROUP BY tag) g) FROM %[1]s ORDER BY id",
	"SELECT id, (SELECT max(x) FROM (SELECT (SELECT person FROM {z} ORDER BY tag LIMIT 1) AS x FROM {w}) s) FROM %[1]s ORDER BY id",
}

// TestRedTeam38bHeld: every shape in rt38bHeld answers as PostgreSQL,
// is refused, or fails where PostgreSQL fails, in both protocols.
func TestRedTeam38bHeld(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	z, w := rt38bTables(t)
	var alike, byPG int
	for _, q := range rt38bHeld {
		a, pg := rt38bRun(t, f, z, w, q, true)
		if a && !pg {
			alike++
		}
		if pg {
			byPG++
		}
		if testing.Verbose() && !a && !pg {
			t.Logf("refused: %s", q)
		}
	}
	t.Logf("%d shapes: %d answered alike, %d refused by PostgreSQL, the rest refused by phiguard", len(rt38bHeld), alike, byPG)
}
