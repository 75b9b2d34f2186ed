package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Red team 38: the lack probes of sqlrewrite/scope_probe.go. A name the
// plan binds past inner items (to an outer encrypted column, or knowing
// the catalog to a table further out) is sent with, after the WHERE
// keyword of each such level,
//
//	(SELECT "tag" FROM (SELECT "z".*, NULL AS "tag") AS phiguard_lacks) IS NULL AND
//
// which fails the statement (42702, refused 0A000) when z has gained the
// name unseen by phiguard's catalog.

// rt38Case is a statement over {p} (people, tag encrypted), {a}
// (addresses), {z} (a plain table (n int, label text) holding (1, 't1'),
// without tag), {x} (a plain table (n int, tag text) holding (1, 't1')),
// {s} (a schema of the application user's). setup runs as the superuser
// before it; gain (default: {z} gets a column tag DEFAULT 't1') as the
// superuser straight on the database, which phiguard's catalog does not
// see.
type rt38Case struct {
	what, sql, setup, gain string
	args                   []any
}

// rt38Answers are one case's answers on one side: before the gain, just
// after it, and once more.
type rt38Answers struct {
	out  [3]string
	errs [3]error
}

// rt38Run runs c on side (0 directly, 1 through phiguard) in mode, each
// side on fresh tables and a fresh connection.
func (f *sortFixture) rt38Run(t *testing.T, c rt38Case, side int, mode pgx.QueryExecMode) rt38Answers {
	t.Helper()
	conn := direct(t)
	if side == 1 {
		conn = f.p.app(t)
	}
	z, x, s := uniqueName("rt38_z"), uniqueName("rt38_x"), uniqueName("rt38_s")
	r := strings.NewReplacer("{p}", f.people[side], "{a}", f.addresses[side], "{z}", z, "{x}", x, "{s}", s, "{app}", appUser)
	su := superuser(t)
	if _, err := su.Exec(testContext(t), r.Replace(fmt.Sprintf(`CREATE TABLE {z} (n int, label text); INSERT INTO {z} VALUES (1, 't1');
		CREATE TABLE {x} (n int, tag text); INSERT INTO {x} VALUES (1, 't1');
		GRANT ALL ON {z}, {x} TO %[1]s; ALTER TABLE {z} OWNER TO %[1]s; ALTER TABLE {x} OWNER TO %[1]s;
		CREATE SCHEMA {s} AUTHORIZATION %[1]s`, appUser))); err != nil {
		t.Fatal(err)
	}
	if c.setup != "" {
		if _, err := su.Exec(testContext(t), r.Replace(c.setup)); err != nil {
			t.Fatalf("%s: setup: %v", c.what, err)
		}
	}
	gain := c.gain
	if gain == "" {
		gain = "ALTER TABLE {z} ADD COLUMN tag text DEFAULT 't1'"
	}
	var a rt38Answers
	for i := range a.out {
		if i == 1 {
			if _, err := su.Exec(testContext(t), r.Replace(gain)); err != nil {
				t.Fatalf("%s: gain: %v", c.what, err)
			}
		}
		a.out[i], a.errs[i] = rt38Rows(t, conn, r.Replace(c.sql), mode, c.args)
	}
	return a
}

// rt38Rows is the rows of the last statement of sql (several only in the
// simple protocol), or its error.
func rt38Rows(t *testing.T, conn *pgx.Conn, sql string, mode pgx.QueryExecMode, args []any) (string, error) {
	t.Helper()
	if mode == pgx.QueryExecModeSimpleProtocol && len(args) == 0 {
		return rt38LastRows(t, conn, sql)
	}
	got, err := rowsRaw(t, conn, sql, mode, pgx.TextFormatCode, args...)
	return sortedLines(got), err
}

// rt38LastRows runs sql (several statements, simple protocol) and
// answers the rows of its last result that has rows (a FETCH before a
// COMMIT), or the error.
func rt38LastRows(t *testing.T, conn *pgx.Conn, sql string) (string, error) {
	t.Helper()
	res, err := conn.PgConn().Exec(testContext(t), sql).ReadAll()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i := len(res) - 1; i >= 0; i-- {
		if len(res[i].FieldDescriptions) == 0 {
			continue
		}
		for _, row := range res[i].Rows {
			for j, v := range row {
				if j > 0 {
					b.WriteString(" | ")
				}
				b.Write(v)
			}
			b.WriteString("\n")
		}
		break
	}
	return sortedLines(b.String()), nil
}

// rt38Modes are the protocols each case runs in: the simple Query, an
// unnamed Parse each time, a statement prepared once and bound again.
var rt38Modes = []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement}

// rt38Outcome is what phiguard gave for one stage, compared with
// PostgreSQL's answer.
type rt38Outcome int

const (
	rt38Same rt38Outcome = iota
	// rt38Concurrent is the refusal of a catalog read that listed a
	// column another session changed meanwhile (namedStale,
	// guard/catalog_unshadowed.go): DDL of the suite's other tests,
	// running in parallel, not the statement's; logged, not judged.
	rt38Concurrent
	rt38Refused
	// rt38Probe is the probe's refusal (a stale catalog, read again).
	rt38Probe
	rt38Differs
)

func rt38Compare(want, got string, werr, gerr error) rt38Outcome {
	var wpe, gpe *pgconn.PgError
	switch {
	case gerr != nil && errors.As(gerr, &gpe) && gpe.Code == "0A000" && (werr == nil || !errors.As(werr, &wpe) || wpe.Code != "0A000"):
		if strings.Contains(gpe.Message, "phiguard's catalog said") {
			return rt38Probe
		}
		if strings.Contains(gpe.Message, "lists columns another session changed since") {
			return rt38Concurrent
		}
		return rt38Refused
	case werr != nil && gerr != nil && errors.As(werr, &wpe) && errors.As(gerr, &gpe) && wpe.Code == gpe.Code:
		return rt38Same
	case werr != nil || gerr != nil:
		return rt38Differs
	case want != got:
		return rt38Differs
	}
	return rt38Same
}

// rt38Check runs c in both protocols and answers, per stage, the worst
// outcome, logging each answer.
func (f *sortFixture) rt38Check(t *testing.T, c rt38Case) [3]rt38Outcome {
	t.Helper()
	var worst [3]rt38Outcome
	for _, mode := range rt38Modes {
		if strings.Contains(c.sql, ";") && mode != pgx.QueryExecModeSimpleProtocol {
			continue // several statements: the simple Query only
		}
		d, v := f.rt38Run(t, c, 0, mode), f.rt38Run(t, c, 1, mode)
		for i := range worst {
			o := rt38Compare(d.out[i], v.out[i], d.errs[i], v.errs[i])
			if o != rt38Same {
				t.Logf("%s (%v) stage %d: directly %q %v, through phiguard %q %v", c.what, mode, i, d.out[i], d.errs[i], v.out[i], v.errs[i])
			}
			worst[i] = max(worst[i], o)
		}
	}
	return worst
}

// rt38Probed is the statement of the red team 35b/37 holes: tag inside
// EXISTS over {z} binds to {p}'s encrypted tag while {z} lacks it.
const rt38Probed = "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"

// TestRedTeam38ProbesHeld: shapes that held. Each is answered as
// PostgreSQL answers it while the catalog is right (no false refusal, no
// error of the probe's text), and after {z} (or the item probed) gains
// the name straight on the database, refused (0A000) or answered the
// same, and when run again (the catalog read again; a prepared statement
// prepared again) answered the same or refused as the shape is refused
// knowing the catalog (two tables with the name: ambiguous), never by
// the probe again.
func TestRedTeam38ProbesHeld(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	in := func(item string) string {
		return "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM " + item + " WHERE tag = 't1')"
	}
	for _, c := range []rt38Case{
		{what: "plain", sql: rt38Probed},
		{what: "lower-case where, no space before (", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} where(tag = 't1'))"},
		{what: "WHERE with leading parentheses", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE ((tag = 't1')))"},
		{what: "WHERE NOT", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE NOT tag <> 't1')"},
		{what: "WHERE starting with a minus", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE - 1 < 0 AND tag = 't1')"},
		{what: "WHERE ... OR ...", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1' OR {z}.n = 2)"},
		{what: "WHERE starting with a typed literal", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE interval '1 day' > interval '1 hour' AND tag = 't1')"},
		{what: "WHERE starting with a subquery", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE (SELECT 1) = 1 AND tag = 't1')"},
		{what: "WHERE starting with a row", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE (1, 2) = (1, 2) AND tag = 't1')"},
		{what: "parameter", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = $1)", args: []any{"t1"}},
		{what: "parameter first", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE $1::int = 1 AND tag = 't1')", args: []any{1}},
		{what: "alias", sql: in("{z} q")},
		{what: "alias like the outer table's", sql: "SELECT count(*) FROM {p} q WHERE EXISTS (SELECT 1 FROM {z} q WHERE tag = 't1')"},
		{what: "alias phiguard_lacks", sql: in("{z} AS phiguard_lacks")},
		{what: "alias named like the name", sql: in("{z} AS tag")},
		{what: "alias a reserved word", sql: in(`{z} AS "user"`)},
		{what: "alias upper case", sql: in(`{z} AS "Z"`)},
		{what: "alias with a quote", sql: in(`{z} AS "q""x"`)},
		{what: "schema-qualified", sql: in("public.{z}")},
		{what: "ONLY", sql: in("ONLY {z}")},
		{what: "TABLESAMPLE", sql: in("{z} TABLESAMPLE SYSTEM (100)")},
		{what: "two tables", sql: in("{z}, {z} AS w")},
		{what: "JOIN ON", sql: in("{z} JOIN {z} w ON w.n = {z}.n")},
		{what: "JOIN with alias", sql: in("({z} a JOIN {z} b ON a.n = b.n) j")},
		{what: "JOIN USING ... AS", sql: in("{z} a JOIN {z} b USING (n) AS u")},
		{what: "JOIN USING ... AS, then a JOIN", sql: in("{z} a JOIN {z} b USING (n) AS u JOIN {z} c ON true")},
		{what: "name in the ON, probe in the WHERE", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} a JOIN {z} b ON tag = 't1' WHERE a.n = 1)"},
		{what: "subquery over the table", sql: in("(SELECT * FROM {z}) v")},
		{what: "WITH query over the table", sql: "SELECT count(*) FROM {p} WHERE EXISTS (WITH w AS (SELECT * FROM {z}) SELECT 1 FROM w WHERE tag = 't1')"},
		{what: "LATERAL, probes at two levels", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z}, LATERAL (SELECT 1 FROM {x} y WHERE y.n = {z}.n AND tag = 't1') l WHERE {z}.n = 1)"},
		{what: "LATERAL in the outer FROM", sql: "SELECT count(*) FROM {p}, LATERAL (SELECT 1 FROM {z} WHERE tag = 't1') l"},
		{what: "JOIN LATERAL", sql: "SELECT count(*) FROM {p} JOIN LATERAL (SELECT 1 FROM {z} WHERE tag = 't1') l ON true"},
		{what: "scalar subquery in the select list", sql: "SELECT id, (SELECT count(*) FROM {z} WHERE tag = 't1') FROM {p}"},
		{what: "IN", sql: "SELECT count(*) FROM {p} WHERE id IN (SELECT n FROM {z} WHERE tag = 't1')"},
		{what: "NOT EXISTS", sql: "SELECT count(*) FROM {p} WHERE NOT EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"},
		{what: "UNION inside", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1' UNION ALL SELECT 1 FROM {z} w WHERE tag = 't2')"},
		{what: "parenthesised UNION inside", sql: "SELECT count(*) FROM {p} WHERE EXISTS ((SELECT 1 FROM {z} WHERE tag = 't1') UNION (SELECT 1 FROM {z} w WHERE tag = 't2'))"},
		{what: "two levels", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} a WHERE EXISTS (SELECT 1 FROM {z} b WHERE tag = 't1'))"},
		{what: "same alias at two levels", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} o WHERE o.n = 1 AND EXISTS (SELECT 1 FROM {z} o WHERE tag = 't1'))"},
		{what: "GROUP BY HAVING", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1' GROUP BY n HAVING count(*) > 0)"},
		{what: "FOR SHARE", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1' FOR SHARE)"},
		{what: "with a proxy-side filter at the top", sql: "SELECT id FROM {p} WHERE name = 'Smith' AND EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"},
		{what: "sorted in the proxy", sql: "SELECT id, name FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1') ORDER BY name, id LIMIT 7"},
		{what: "beside a subquery filtered in the proxy", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b WHERE b.city = 'Bern' AND b.person = {p}.id) AND EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"},
		{what: "inside a subquery filtered in the proxy", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b WHERE b.city = 'Bern' AND b.person = {p}.id AND EXISTS (SELECT 1 FROM {z} WHERE tag = 't1'))"},
		{what: "UPDATE ... RETURNING", sql: "UPDATE {p} SET grp = grp WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1') RETURNING id"},
		{what: "DELETE of nothing", sql: "DELETE FROM {p} WHERE id < 0 AND EXISTS (SELECT 1 FROM {z} WHERE tag = 't1') RETURNING id"},
		{what: "INSERT ... SELECT", sql: "INSERT INTO {x} (n) SELECT 7 FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1') RETURNING n"},
		{what: "multi-statement Query", sql: "SELECT 1; " + rt38Probed},
		{what: "function in FROM with an alias", sql: in("{s}.f() AS f"), setup: "CREATE FUNCTION {s}.f() RETURNS TABLE (n int) LANGUAGE sql AS $$SELECT 1$$",
			gain: "DROP FUNCTION {s}.f(); CREATE FUNCTION {s}.f() RETURNS TABLE (n int, tag text) LANGUAGE sql AS $$SELECT 1, 't1'$$"},
		{what: "function WITH ORDINALITY with an alias", sql: in("{s}.f() WITH ORDINALITY AS f"), setup: "CREATE FUNCTION {s}.f() RETURNS TABLE (n int) LANGUAGE sql AS $$SELECT 1$$",
			gain: "DROP FUNCTION {s}.f(); CREATE FUNCTION {s}.f() RETURNS TABLE (n int, tag text) LANGUAGE sql AS $$SELECT 1, 't1'$$"},
		{what: "UPDATE SET from a subquery", sql: "UPDATE {p} SET grp = (SELECT max(n) FROM {z} WHERE tag = 't1') WHERE id = 3 RETURNING grp"},
		{what: "INSERT VALUES from a subquery", sql: "INSERT INTO {x} (n) VALUES ((SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1'))) RETURNING n"},
		{what: "in the outer JOIN's ON", sql: "SELECT count(*) FROM {p} JOIN {a} b ON b.person = {p}.id AND EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"},
		{what: "outer derived table", sql: "SELECT count(*) FROM (SELECT * FROM {p}) q WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"},
		{what: "outer WITH query", sql: "WITH q AS (SELECT * FROM {p}) SELECT count(*) FROM q WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"},
		{what: "WITH over the table at the top, read inside", sql: "WITH w AS (SELECT * FROM {z}) SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM w WHERE tag = 't1')"},
		{what: "multibyte text before", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 'ü€😀' FROM {z} WHERE tag = 't1')"},
		{what: "DISTINCT ON and a window inside", sql: "SELECT count(*) FROM {p} WHERE id IN (SELECT DISTINCT ON (n) n + row_number() OVER () - 1 FROM {z} WHERE tag = 't1' ORDER BY n)"},
		{what: "REPEATABLE READ transaction", sql: "ROLLBACK; BEGIN ISOLATION LEVEL REPEATABLE READ; " + rt38Probed + "; COMMIT"},
		{what: "cursor", sql: "ROLLBACK; BEGIN; DECLARE rt38c CURSOR FOR " + rt38Probed + "; FETCH ALL rt38c; COMMIT"},
		{what: "knowing the catalog, three levels", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE EXISTS (SELECT 1 FROM {z} a WHERE a.n = 1 AND EXISTS (SELECT 1 FROM {z} b WHERE tag = 't2')))"},
		{what: "knowing the catalog, a join alias over {x} and {z}", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM ({x} JOIN {z} ON true) j WHERE EXISTS (SELECT 1 FROM {z} b WHERE tag = 't2'))"},
		{what: "counted in the proxy", sql: "SELECT count(*) FROM {p} WHERE name = 'Smith' AND EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"},
		{what: "grouped in the proxy", sql: "SELECT grp, count(*) FROM {p} WHERE name LIKE 'S%' AND EXISTS (SELECT 1 FROM {z} WHERE tag = 't1') GROUP BY grp"},
		{what: "DISTINCT in the proxy", sql: "SELECT DISTINCT name FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"},
		{what: "sorted in the proxy, no LIMIT", sql: "SELECT id, born FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1') ORDER BY born DESC, id"},
		{what: "NOT IN beside a probe", sql: "SELECT count(*) FROM {p} WHERE id NOT IN (SELECT n FROM {z} WHERE tag = 't1' AND n IS NOT NULL)"},
		{what: "knowing the catalog: bound to {x}, {z} probed", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't2'))"},
	} {
		t.Run(c.what, func(t *testing.T) {
			got := f.rt38Check(t, c)
			if got[0] != rt38Same && got[0] != rt38Concurrent {
				t.Errorf("%s: catalog right: outcome %d, want the same answer", c.what, got[0])
			}
			if got[1] == rt38Differs {
				t.Errorf("%s: after the gain: another answer", c.what)
			}
			if got[2] == rt38Differs || got[2] == rt38Probe {
				t.Errorf("%s: run again: outcome %d, want the same answer or a refusal of the shape", c.what, got[2])
			}
		})
	}
}

// rt38Hole runs c, which must be answered as PostgreSQL answers it
// before the gain, and after it refused or answered the same, and the
// same again (the checks of TestRedTeam38ProbesHeld).
func (f *sortFixture) rt38Hole(t *testing.T, c rt38Case) {
	t.Helper()
	got := f.rt38Check(t, c)
	if got[0] != rt38Same && got[0] != rt38Concurrent || got[1] == rt38Differs || got[2] == rt38Differs || got[2] == rt38Probe {
		t.Errorf("%s: outcomes before, after the gain, again: %v (0 the same, 1 refused after another session's DDL, 2 refused, 3 the probe's refusal, 4 another answer)", c.what, got)
	}
}

// TestRedTeam38CommentAfterWhere: a comment between WHERE and its
// clause: afterWhere looked for WHERE just before the clause's first
// node (past parentheses), found the comment, and placed no probe, so
// after {z} gained tag directly on the database phiguard answered 0 where
// PostgreSQL answers 60, in every protocol, and again when run again
// (nothing failed, so the catalog was not read again). Now comments are
// passed over like parentheses (scope_probe.go skippedBeforeWhere).
func TestRedTeam38CommentAfterWhere(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt38Hole(t, rt38Case{what: "comment after WHERE", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE /* c */ tag = 't1')"})
	f.rt38Hole(t, rt38Case{what: "line comment after WHERE", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE -- c\n tag = 't1')"})
	f.rt38Hole(t, rt38Case{what: "comment inside the parenthesis", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE ( /* c */ tag = 't1'))"})
}

// TestRedTeam38QualifierAfterKeyword: a name the catalog binds to an
// inner table, written right after a keyword (WHERE"tag"), was sent with
// its qualifier glued to the keyword (WHERErt38_x."tag"): a syntax error
// (42601) where PostgreSQL answers. The same after the probe's refusal:
// the catalog read again binds the name to {z}. Now the qualifier is
// sent after a space there (scope_qualify.go qualifierCuts).
func TestRedTeam38QualifierAfterKeyword(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt38Hole(t, rt38Case{what: "inner table's name after WHERE", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE\"tag\" = 't1')"})
	f.rt38Hole(t, rt38Case{what: "after AND", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE n = 1 AND\"tag\" = 't1')"})
	f.rt38Hole(t, rt38Case{what: "probed, then bound to {z} after the gain", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE\"tag\" = 't1')"})
}

// TestRedTeam38FunctionWithoutAlias: a function in FROM without an
// alias is named by PostgreSQL after the function (its refname), but the
// planner's item for it has no name (functionRelation), so no probe
// names it (probedItems leaves out an item without a name). Now the
// item is named after the function (scope_outputs.go functionRelation).
func TestRedTeam38FunctionWithoutAlias(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt38Hole(t, rt38Case{what: "function without alias", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {s}.f() WHERE tag = 't1')",
		setup: "CREATE FUNCTION {s}.f() RETURNS TABLE (n int) LANGUAGE sql AS $$SELECT 1$$",
		gain:  "DROP FUNCTION {s}.f(); CREATE FUNCTION {s}.f() RETURNS TABLE (n int, tag text) LANGUAGE sql AS $$SELECT 1, 't1'$$"})
}

// TestRedTeam38LevelWithoutWhere: a level without a WHERE gets one after
// its FROM clause for its probes (scope_probe.go). On 96a7bc1 it got no
// probe (a HOLE): after z gained tag directly, PostgreSQL 60, phiguard 0,
// and 0 again.
func TestRedTeam38LevelWithoutWhere(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt38Hole(t, rt38Case{what: "level without WHERE", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} JOIN (SELECT 1 AS k) k ON tag = 't1')"})
}

// TestRedTeam38LevelFilteredInProxy: the WHERE of an IN or EXISTS
// subquery that phiguard filters in the proxy (planner_subfilter.go),
// with a name bound past its items to the outer level's encrypted
// column. Before, that level got no probe (a HOLE): after z gained tag
// directly on the database, PostgreSQL answered 18 rows and phiguard 0,
// and 0 again. Now its probes go first in that WHERE, and the proxy's
// cut of the WHERE skips them (sqlrewrite/sort_probe_skip.go): in the
// statement, and in the subquery's array of cells when the conjunct is
// negated and sent as true.
func TestRedTeam38LevelFilteredInProxy(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, c := range []rt38Case{
		{what: "EXISTS", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
		{what: "NOT EXISTS", sql: "SELECT id FROM {p} WHERE NOT EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
		{what: "an OR among the conjuncts", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE (b.person = {p}.id OR b.person IS NULL) AND b.city = 'Bern' AND tag = 't1')"},
		{what: "the name in an OR", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.person = {p}.id AND b.city = 'Bern' AND (tag = 't1' OR n IS NULL))"},
		{what: "beside a filter and a sort at the top", sql: "SELECT id FROM {p} WHERE score > 10 AND EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1') ORDER BY name, id LIMIT 7"},
	} {
		f.rt38Hole(t, c)
	}
}

// TestRedTeam38RowRules: a statement of a role with row rules, which the
// access rewrite turns into another text before the encryption planner
// places the probe: answered with the rows of the hand-written filter.
func TestRedTeam38RowRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	want := "SELECT count(*) FROM patients WHERE id IN " + aliceSees + " AND EXISTS (SELECT 1 FROM providers WHERE patients.ssn IS NOT NULL)"
	var cases []accessCase
	for _, sql := range []string{
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM providers WHERE ssn IS NOT NULL)",
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM providers pr WHERE pr.id IS NOT NULL AND ssn IS NOT NULL)",
		"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM providers WHERE /* c */ ssn IS NOT NULL)",
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT * FROM providers) pr WHERE ssn IS NOT NULL)",
	} {
		cases = append(cases, accessCase{name: sql, user: "dr_alice", steps: []string{sql}, want: rowsOf(want)})
	}
	runAccessCases(t, p, cases)
}

// TestRedTeam38ColumnPrivileges: a role granted only the columns it
// reads (GRANT SELECT (n) ON z). The probe of 96a7bc1 read "z".*, which
// asks for the SELECT privilege on every column of z: PostgreSQL refused
// it (42501) where the client's statement answers 8 (a HOLE). The probe
// names z again beside a column of its own and reads none of z's.
func TestRedTeam38ColumnPrivileges(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt38Hole(t, rt38Case{what: "column privilege", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE n = 1 AND tag = 't1')",
		setup: "ALTER TABLE {z} OWNER TO CURRENT_USER; REVOKE ALL ON {z} FROM {app}; GRANT SELECT (n) ON {z} TO {app}"})
}

// TestRedTeam38WideItems: two tables of 901 columns at one level. The
// probe of 96a7bc1 listed every column of the level's items, at most
// 1,664 in PostgreSQL: 54011 where PostgreSQL answers 8 (a HOLE). The
// probe now lists no column of a table's.
func TestRedTeam38WideItems(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	var c1, c2 strings.Builder
	for i := range 900 {
		fmt.Fprintf(&c1, ", c%d int", i)
		fmt.Fprintf(&c2, ", d%d int", i)
	}
	f.rt38Hole(t, rt38Case{what: "wide tables", sql: "SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {s}.w1, {s}.w2 WHERE w1.k = w2.k AND tag = 't1')",
		setup: "CREATE TABLE {s}.w1 (k int" + c1.String() + "); CREATE TABLE {s}.w2 (k int" + c2.String() + "); INSERT INTO {s}.w1 (k) VALUES (1); INSERT INTO {s}.w2 (k) VALUES (1); GRANT ALL ON ALL TABLES IN SCHEMA {s} TO {app}",
		gain:  "ALTER TABLE {s}.w1 ADD COLUMN tag text DEFAULT 't1'"})
}

// rt38Describe sends a Describe of the prepared statement name and a
// Sync, and answers the error the backend's answer holds, if any.
func rt38Describe(t *testing.T, conn *pgx.Conn, name string) *pgconn.PgError {
	t.Helper()
	pc := conn.PgConn()
	fe := pc.Frontend()
	fe.Send(&pgproto3.Describe{ObjectType: 'S', Name: name})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var pe *pgconn.PgError
	for {
		m, err := pc.ReceiveMessage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *pgproto3.ErrorResponse:
			pe = pgconn.ErrorResponseToPgError(m)
		case *pgproto3.ReadyForQuery:
			return pe
		}
	}
}

// TestRedTeam38DescribeAfterGain: PostgreSQL analyses a prepared
// statement again at a Describe of it after its table changed, where the
// probe fails: its 42702 reached the client as the backend sent it
// (PostgreSQL, describing the same statement on the plaintext, answers
// its row description), the catalog was not marked stale and the
// statement not marked to be prepared again; the next Bind was refused
// too. Now the Describe's error is the probe's refusal (0A000), and the
// next Bind prepares the statement again: 60, as PostgreSQL.
func TestRedTeam38DescribeAfterGain(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	var out [2][2]string
	for side := range 2 {
		conn := direct(t)
		if side == 1 {
			conn = f.p.app(t)
		}
		z := uniqueName("rt38d_z")
		r := strings.NewReplacer("{p}", f.people[side], "{z}", z)
		su := superuser(t)
		if _, err := su.Exec(testContext(t), r.Replace("CREATE TABLE {z} (n int); INSERT INTO {z} VALUES (1); GRANT ALL ON {z} TO "+appUser)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.PgConn().Prepare(testContext(t), "rt38d", r.Replace("SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')"), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := su.Exec(testContext(t), r.Replace("ALTER TABLE {z} ADD COLUMN tag text DEFAULT 't1'")); err != nil {
			t.Fatal(err)
		}
		if pe := rt38Describe(t, conn, "rt38d"); pe != nil && (side == 0 || pe.Code != "0A000") {
			t.Errorf("side %d: Describe after the gain: %v", side, pe)
		}
		for i := range out[side] {
			res := conn.PgConn().ExecPrepared(testContext(t), "rt38d", nil, nil, nil).Read()
			if res.Err != nil {
				t.Errorf("side %d: Bind %d after the Describe: %v", side, i, res.Err)
				continue
			}
			out[side][i] = string(res.Rows[0][0])
		}
	}
	if out[0] != out[1] || out[0][0] != "60" {
		t.Errorf("directly %v, through phiguard %v", out[0], out[1])
	}
}
