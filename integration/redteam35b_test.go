package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 35b: the column binder of the encryption planner (an
// unqualified name binds at the innermost level with an item that has
// it, sqlrewrite/scope_columns.go, scope_outputs.go; the inner tables'
// columns checked in the session's catalog, guard/catalog_unshadowed.go).

// TestRedTeam35bFigureColname: output names of derived relations that
// the planner's figureColname works out otherwise than PostgreSQL's
// FigureColname.
func TestRedTeam35bFigureColname(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	plain := rt35PlainTable(t)
	q := func(s string) string { return strings.ReplaceAll(s, "{plain}", plain) }
	f.sameOrRefusedAll(t, []rt13Case{
		// CASE is named after its ELSE when that has a name
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT CASE WHEN false THEN 'z' ELSE v.tag END FROM (VALUES ('t1'::text)) v(tag)) c WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT CASE WHEN false THEN 'z' ELSE v.tag END::text FROM (VALUES ('t1'::text)) v(tag)) c WHERE tag = 't1')"},
		{sql: "WITH c AS (SELECT CASE WHEN false THEN 'z' ELSE v.tag END FROM (VALUES ('t1'::text)) v(tag)) SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM c WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s NATURAL JOIN (SELECT CASE WHEN false THEN 'z' ELSE v.tag END FROM (VALUES ('t1'::text)) v(tag)) c"},
		// a cast of q.* is named q
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT tag.*::text FROM (VALUES ('t1'::text)) tag(x)) c WHERE tag = '(t1)')"},
		// (x).* expands into the composite's fields
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT (pl).* FROM {plain} pl) c WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT (v.r).* FROM (SELECT pl AS r FROM {plain} pl) v) c WHERE tag = 't1')")},
		// names phiguard does not work out: refused is fine
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT 't1'::text AS tag)) c WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT greatest('t1'::text, 't0')) c WHERE greatest = 't1')"},
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT nullif('t1', 'x'), coalesce('t1', 'x'), 't1'::text::varchar, ARRAY['t1'], date '2020-01-01', $1::text) c WHERE tag = 't1')", args: []any{"a"}},
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT 't1' COLLATE \"C\", interval '1 day', CAST('x' AS text), ARRAY['t1'][1], (ROW('t1')).f1, x::int[] FROM (VALUES ('{1}')) v(x)) c WHERE tag = 't1')"},
	})
}

// TestRedTeam35bNotation: q.f on a protected table reached otherwise
// than by its own name.
func TestRedTeam35bNotation(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT count(*) FROM (SELECT * FROM %[1]s) q WHERE q.to_jsonb ->> 'tag' = 't1'"},
		{sql: "SELECT count(*) FROM (SELECT q0.* FROM (SELECT * FROM %[1]s) q0) q WHERE q.to_jsonb ->> 'tag' = 't1'"},
		{sql: "SELECT count(*) FROM (SELECT *, 1 AS one FROM %[1]s) q WHERE q.to_jsonb ->> 'tag' = 't1'"},
		{sql: "WITH c AS (SELECT * FROM %[1]s) SELECT count(*) FROM c WHERE c.to_jsonb ->> 'tag' = 't1'"},
		{sql: "WITH c AS MATERIALIZED (SELECT * FROM %[1]s) SELECT count(*) FROM c x WHERE x.text LIKE '%%t1%%'"},
		{sql: "SELECT count(*) FROM (%[1]s p JOIN %[2]s a ON a.person = p.id) j WHERE j.to_jsonb ->> 'tag' = 't1'"},
		{sql: "SELECT count(*) FROM %[1]s p WHERE p.text LIKE '%%t1%%'"},
		{sql: "SELECT count(*) FROM %[1]s p WHERE p.tableoid <> 0 AND p.xmin IS NOT NULL AND p.ctid IS NOT NULL"},
		{sql: "SELECT count(*) FROM (SELECT * FROM %[1]s) q WHERE q.tableoid <> 0"},
		{sql: "SELECT count(*) FROM %[1]s p, LATERAL (SELECT p.to_jsonb ->> 'tag' AS v) l WHERE l.v = 't1'"},
	})
}

// rt35bORM are statements of the kind an ORM sends, which phiguard
// answered before the binder changed; each must still be answered.
var rt35bORM = []rt13Case{
	{sql: "SELECT p.id, (SELECT count(*) FROM %[2]s a WHERE a.person = p.id) AS n FROM %[1]s p WHERE p.tag = 't1'"},
	{sql: "SELECT p.id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM %[2]s a WHERE a.person = p.id AND a.active)"},
	{sql: "SELECT p.id, p.name FROM %[1]s p LEFT JOIN %[2]s a ON a.person = p.id WHERE p.tag = $1 ORDER BY p.id", args: []any{"t1"}},
	{sql: `SELECT "t"."id", "t"."tag" FROM %[1]s "t" WHERE "t"."id" IN (SELECT U0."person" FROM %[2]s U0 WHERE U0."active")`},
	{sql: "SELECT id FROM %[1]s WHERE tag = 't1' AND id IN (SELECT person FROM %[2]s WHERE active)"},
	{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM %[2]s a WHERE a.person = p.id AND tag = 't1')"},
	{sql: "SELECT people0_.id AS id1_0_, people0_.tag AS tag2_0_ FROM %[1]s people0_ WHERE people0_.tag = $1", args: []any{"t2"}},
	{sql: "SELECT x.id, x.tag FROM (SELECT id, tag FROM %[1]s WHERE grp = 2) x WHERE x.tag = 't1'"},
	{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM %[2]s WHERE person = %[1]s.id AND city = 'Bern')"},
	{sql: "SELECT c.id FROM (SELECT * FROM %[1]s) c WHERE tag = 't2'"},
	{sql: "WITH w AS (SELECT id, tag FROM %[1]s) SELECT w.id FROM w WHERE tag = 't1'"},
	{sql: "SELECT p.id FROM %[1]s p JOIN %[2]s a ON a.person = p.id WHERE a.city = 'Bern' AND p.tag = 't1'"},
	{sql: "SELECT count(*) FROM %[2]s a WHERE a.person IN (SELECT id FROM %[1]s WHERE tag = 't1')"},
	{sql: `SELECT "p".* FROM %[1]s "p" WHERE "p"."tag" = $1 LIMIT $2`, args: []any{"t1", 5}},
	{sql: "SELECT 1 AS one FROM %[1]s WHERE %[1]s.tag = 't1' LIMIT 1"},
	{sql: "SELECT COUNT(*) FROM (SELECT 1 AS one FROM %[1]s WHERE tag = 't1' LIMIT 3) subquery_for_count"},
	{sql: "SELECT anon_1.id FROM (SELECT p.id AS id, p.tag AS tag FROM %[1]s AS p WHERE p.tag = 't1') AS anon_1 WHERE anon_1.tag = 't1'"},
	{sql: `SELECT p.id FROM %[1]s p WHERE EXISTS(SELECT 1 AS "a" FROM %[2]s U0 WHERE U0."person" = (p."id") LIMIT 1) AND p.tag = 't2'`},
	{sql: "SELECT p.id, a.city FROM %[1]s p JOIN LATERAL (SELECT city FROM %[2]s WHERE person = p.id ORDER BY id LIMIT 1) a ON true WHERE p.tag = 't1'"},
	{sql: "SELECT id FROM %[1]s WHERE tag = 't1' AND EXISTS (SELECT 1 FROM %[2]s WHERE person = %[1]s.id)"},
}

// TestRedTeam35bTransparency: the ORM statements are answered, the same.
func TestRedTeam35bTransparency(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	tally := f.sameOrRefusedAll(t, rt35bORM)
	if tally.refused > 0 {
		for _, c := range rt35bORM {
			var one rt13Tally
			f.rt13Run(t, c, &one)
			if one.refused > 0 {
				t.Errorf("refused: %s", c.sql)
			}
		}
	}
}

// rt35bLast runs sql (several statements, simple protocol) on conn and
// answers the rows of its last result, or the error.
func rt35bLast(t *testing.T, conn *pgx.Conn, sql string) (string, error) {
	t.Helper()
	res, err := conn.PgConn().Exec(testContext(t), sql).ReadAll()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, row := range res[len(res)-1].Rows {
		for i, v := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.Write(v)
		}
		b.WriteString("\n")
	}
	return sortedLines(b.String()), nil
}

// rt35bSame compares the answers of sides 0 (direct) and 1 (phiguard)
// of a statement run by run: the same, or phiguard refused 0A000.
func rt35bSame(t *testing.T, what string, want, got string, werr, gerr error) {
	t.Helper()
	var wpe, gpe *pgconn.PgError
	switch {
	case gerr != nil && errors.As(gerr, &gpe) && gpe.Code == "0A000":
		t.Logf("%s: refused: %v", what, gerr)
	case werr != nil && gerr != nil && errors.As(werr, &wpe) && errors.As(gerr, &gpe) && wpe.Code == gpe.Code:
	case werr != nil || gerr != nil:
		t.Errorf("%s: directly %v, through phiguard %v", what, werr, gerr)
	case want != got:
		t.Errorf("%s: through phiguard\n%s\ndirectly\n%s", what, got, want)
	}
}

// rt35bMessage runs, on each side, setup (statements that give the
// plain table {x}, made by the superuser as (n int, label text) holding
// 't1', a column tag) and then sel, in one simple Query message, and
// compares the SELECT's answers.
func (f *sortFixture) rt35bMessage(t *testing.T, setup string) {
	t.Helper()
	sel := "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM {x} WHERE tag = 't1')"
	var out [2]string
	var errs [2]error
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		tbl := uniqueName("rt35b_msg")
		if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf("CREATE TABLE %[1]s (n int, label text); INSERT INTO %[1]s VALUES (1, 't1'); GRANT ALL ON %[1]s TO %[2]s; ALTER TABLE %[1]s OWNER TO %[2]s", tbl, appUser)); err != nil {
			t.Fatal(err)
		}
		sql := strings.ReplaceAll(setup+"; "+f.sql(sel, side), "{x}", tbl)
		out[side], errs[side] = rt35bLast(t, conn, sql)
	}
	rt35bSame(t, setup+"; "+sel, out[0], out[1], errs[0], errs[1])
}

// TestRedTeam35bSameMessageDDL: DDL earlier in the same simple Query as
// the SELECT, which the catalog phiguard read has not seen.
func TestRedTeam35bSameMessageDDL(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, setup := range []string{
		"ALTER TABLE {x} RENAME COLUMN label TO tag",
		"ALTER TABLE {x} ADD COLUMN tag text; UPDATE {x} SET tag = label",
		"DROP TABLE {x}; CREATE TABLE {x} (tag text); INSERT INTO {x} VALUES ('t1')",
		"CREATE VIEW {x}_v AS SELECT label AS tag FROM {x}; ALTER TABLE {x} RENAME TO {x}_old; ALTER VIEW {x}_v RENAME TO {x}",
	} {
		f.rt35bMessage(t, setup)
	}
}

// TestRedTeam35bSameMessageTableAs: CREATE TABLE x AS ... in the same
// simple Query as the SELECT that reads x.
func TestRedTeam35bSameMessageTableAs(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, setup := range []string{
		"DROP TABLE {x}; CREATE TABLE {x} AS SELECT 't1'::text AS tag",
	} {
		f.rt35bMessage(t, setup)
	}
}

// TestRedTeam35bTempTable: a temporary table named pg_temp.x is in the
// catalog under its session's pg_temp_N schema.
func TestRedTeam35bTempTable(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	tbl := uniqueName("rt35b_tmp")
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(testContext(t), "CREATE TEMP TABLE "+tbl+" AS SELECT 't1'::text AS tag"); err != nil {
			t.Fatal(err)
		}
	}
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM pg_temp." + tbl + " WHERE tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM " + tbl + " WHERE tag = 't1')"},
	})
}

// TestRedTeam35bTransactionDDL: DDL inside an open transaction, then the
// SELECT in a later message of the same transaction.
func TestRedTeam35bTransactionDDL(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	var out [2]string
	var errs [2]error
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		tbl := uniqueName("rt35b_tx")
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (n int, label text); INSERT INTO %[1]s VALUES (1, 't1'); GRANT ALL ON %[1]s TO %[2]s; ALTER TABLE %[1]s OWNER TO %[2]s", tbl, appUser)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "ALTER TABLE "+tbl+" RENAME COLUMN label TO tag"); err != nil {
			t.Fatal(err)
		}
		out[side], errs[side] = rt35bLast(t, conn, fmt.Sprintf("SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM %[2]s WHERE tag = 't1')", f.people[side], tbl))
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
	rt35bSame(t, "BEGIN; ALTER TABLE x RENAME label TO tag; then SELECT ... EXISTS (SELECT 1 FROM x WHERE tag = 't1')", out[0], out[1], errs[0], errs[1])
}

// TestRedTeam35bPreparedThenDDL: a statement prepared while the inner
// table lacks the name, executed after DDL (through phiguard) gave it
// one: PostgreSQL analyses the statement again and binds the name to
// the inner table, where phiguard encrypted the parameter for the outer
// tag (0 where PostgreSQL answers 60). Closed: the Bind checks
// Plan.Unshadowed again on the catalog read after the DDL (bindRefusal).
func TestRedTeam35bPreparedThenDDL(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	var out [2]string
	var errs [2]error
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		tbl := uniqueName("rt35b_prep")
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (n int, label text); INSERT INTO %[1]s VALUES (1, 't1'); GRANT ALL ON %[1]s TO %[2]s; ALTER TABLE %[1]s OWNER TO %[2]s", tbl, appUser)); err != nil {
			t.Fatal(err)
		}
		sql := fmt.Sprintf("SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM %[2]s WHERE tag = $1)", f.people[side], tbl)
		if _, err := conn.Prepare(ctx, "rt35b", sql); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "ALTER TABLE "+tbl+" RENAME COLUMN label TO tag"); err != nil {
			t.Fatal(err)
		}
		out[side], errs[side] = rowsRaw(t, conn, "rt35b", pgx.QueryExecModeCacheStatement, pgx.TextFormatCode, "t1")
		if err := conn.Deallocate(ctx, "rt35b"); err != nil {
			t.Fatal(err)
		}
	}
	rt35bSame(t, "PREPARE s AS SELECT ... EXISTS (SELECT 1 FROM x WHERE tag = $1); ALTER TABLE x RENAME label TO tag; EXECUTE s('t1')", out[0], out[1], errs[0], errs[1])
}

// TestRedTeam35bDirectDDL: a column added straight on the database (not
// through phiguard) after the session read its catalog. The session's
// catalog still says x lacks tag, so the plan binds the name to the
// outer encrypted tag; the probe sent in x's WHERE (sqlrewrite/
// scope_probe.go) fails the statement in the database, which phiguard
// refuses, and it reads its catalog again: run again, the statement
// answers as PostgreSQL does. (Before the probe this was a HOLE: 0
// through phiguard, 60 directly, until limits.catalog_max_age.)
func TestRedTeam35bDirectDDL(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	var out, again [2]string
	var errs, againErrs [2]error
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		tbl := uniqueName("rt35b_direct")
		su := superuser(t)
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (n int, label text); INSERT INTO %[1]s VALUES (1, 't1'); GRANT ALL ON %[1]s TO %[2]s", tbl, appUser)); err != nil {
			t.Fatal(err)
		}
		sql := fmt.Sprintf("SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM %[2]s WHERE tag = 't1')", f.people[side], tbl)
		if _, err := rt35bLast(t, conn, sql); err != nil {
			t.Fatal(err)
		}
		if _, err := su.Exec(ctx, "ALTER TABLE "+tbl+" RENAME COLUMN label TO tag"); err != nil {
			t.Fatal(err)
		}
		out[side], errs[side] = rt35bLast(t, conn, sql)
		again[side], againErrs[side] = rt35bLast(t, conn, sql)
	}
	rt35bSame(t, "SELECT ... EXISTS (SELECT 1 FROM x WHERE tag = 't1'), then directly ALTER TABLE x RENAME label TO tag, then the SELECT again", out[0], out[1], errs[0], errs[1])
	if againErrs[0] != nil || againErrs[1] != nil || again[0] != again[1] {
		t.Errorf("run a third time (the catalog read again): directly %q %v, through phiguard %q %v", again[0], againErrs[0], again[1], againErrs[1])
	}
}

// TestRedTeam35bMoreRelations: recursive WITH queries, set operations,
// ROWS FROM, ORDINALITY, JOIN alias column lists and writes whose
// subqueries bind the name.
func TestRedTeam35bMoreRelations(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	plain := rt35PlainTable(t)
	q := func(s string) string { return strings.ReplaceAll(s, "{plain}", plain) }
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "WITH RECURSIVE r AS (SELECT 't1'::text AS tag UNION ALL SELECT tag FROM r WHERE false) SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM r WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM ((SELECT 't1'::text AS tag) UNION (SELECT 'x')) s WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT 'x'::text AS a UNION SELECT 't1'::text AS tag) s WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM (VALUES ('t1'::text) UNION SELECT 'x') s WHERE column1 = 't1' AND tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT 't1'::text AS tag INTERSECT SELECT 't1' EXCEPT SELECT 'y') s WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM ROWS FROM (unnest(ARRAY['t1'])) AS r(tag) WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['t1']) WITH ORDINALITY AS r(tag, n) WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM json_to_record('{\"tag\": \"t1\"}') AS r(tag text) WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM json_to_record('{\"a\": \"t1\"}') AS r(a text) WHERE tag = 't1')"},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM ({plain} a JOIN {plain} b ON true) j(x, tag) WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM ({plain} a JOIN {plain} b USING (n)) j WHERE j.n = 1 AND tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM {plain} x WHERE EXISTS (SELECT 1 WHERE tag = 't1'))")},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM {plain} x, LATERAL (SELECT tag AS v) l WHERE l.v = 't1')")},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT count(*) FILTER (WHERE tag = 't1') FROM {plain} HAVING count(*) FILTER (WHERE tag = 't1') > 0)")},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT v.tag COLLATE \"C\" FROM (VALUES ('t1'::text)) v(tag)) c WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT (v.tag)::varchar FROM (VALUES ('t1'::text)) v(tag)) c WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM (TABLE %[2]s) c WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT a.* FROM %[2]s a) c WHERE tag = 't1')"},
		{sql: q("UPDATE %[1]s SET grp = grp WHERE EXISTS (SELECT 1 FROM {plain} WHERE tag = 't1') RETURNING id")},
		{sql: "UPDATE %[1]s SET grp = grp WHERE EXISTS (SELECT 1 FROM (SELECT CASE WHEN false THEN 'z' ELSE v.tag END FROM (VALUES ('t1'::text)) v(tag)) c WHERE tag = 't1') RETURNING id"},
		{sql: "DELETE FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT (v.r).* FROM (SELECT ROW('t1'::text) AS r) v) c WHERE f1 = 'x') RETURNING id"},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT * FROM {plain} pl) c(a) WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM {plain} AS pl(a) WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM public.{plain} WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM ONLY {plain} WHERE tag = 't1')")},
	})
}

// TestRedTeam35bLongName: PostgreSQL truncates an identifier to 63
// bytes; the inner table named by a longer name is the 63-byte one.
func TestRedTeam35bLongName(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	long := uniqueName("rt35b_long_") + strings.Repeat("x", 60)
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(`CREATE TABLE %[1]s (n int, tag text); INSERT INTO %[1]s VALUES (1, 't1'); GRANT ALL ON %[1]s TO %[2]s`, long[:63], appUser)); err != nil {
		t.Fatal(err)
	}
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM " + long + " WHERE tag = 't1')"},
		{sql: "SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM public." + long + " WHERE tag = 't1')"},
	})
}

// TestRedTeam35bPipelineDDL: DDL and the SELECT in one pipeline (Parse,
// Bind, Execute of each, one Sync), which phiguard plans before the DDL
// runs.
func TestRedTeam35bPipelineDDL(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	var out [2]string
	var errs [2]error
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		tbl := uniqueName("rt35b_pipe")
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (n int, label text); INSERT INTO %[1]s VALUES (1, 't1'); GRANT ALL ON %[1]s TO %[2]s; ALTER TABLE %[1]s OWNER TO %[2]s", tbl, appUser)); err != nil {
			t.Fatal(err)
		}
		// phiguard knows x before the pipeline: a statement naming a
		// relation it does not know is failed in a pipeline (and the
		// catalog read after it); through phiguard, it reads the catalog.
		for range 2 {
			if _, err := rt35bLast(t, conn, fmt.Sprintf("SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM %[2]s WHERE label = 't1')", f.people[side], tbl)); err != nil {
				t.Logf("warm-up: %v", err)
			}
		}
		p := conn.PgConn().StartPipeline(ctx)
		p.SendQueryParams("ALTER TABLE "+tbl+" RENAME COLUMN label TO tag", nil, nil, nil, nil)
		p.SendQueryParams(fmt.Sprintf("SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM %[2]s WHERE tag = 't1')", f.people[side], tbl), nil, nil, nil, nil)
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 3; n++ {
			res, err := p.GetResults()
			if err != nil {
				errs[side] = err
				break
			}
			if rr, ok := res.(*pgconn.ResultReader); ok {
				r := rr.Read()
				if r.Err != nil {
					errs[side] = r.Err
				} else if len(r.Rows) > 0 {
					out[side] = string(r.Rows[0][0])
				}
			}
		}
		if err := p.Close(); err != nil && errs[side] == nil {
			errs[side] = err
		}
	}
	rt35bSame(t, "pipeline: ALTER TABLE x RENAME label TO tag; SELECT count(*) ... EXISTS (SELECT 1 FROM x WHERE tag = 't1'); Sync", out[0], out[1], errs[0], errs[1])
}
