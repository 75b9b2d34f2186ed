package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 35: names that a walker of sqlrewrite binds differently from
// PostgreSQL. Each statement runs through phiguard on the encrypted twin
// and straight on the plaintext one: the answers must be the same, or
// phiguard must refuse (0A000).

// rt35PlainTable makes a plaintext table, the same on both sides, with
// columns named like the fixture's encrypted ones, and returns its name.
func rt35PlainTable(t *testing.T) string {
	t.Helper()
	name := uniqueName("rt35_plain")
	su := superuser(t)
	if _, err := su.Exec(testContext(t), fmt.Sprintf(`CREATE TABLE %[1]s (n int, tag text, name text, city text);
		INSERT INTO %[1]s VALUES (1, 't1', 'Smith', 'Bern'), (2, 't2', 'Zhang', 'Basel'), (3, NULL, NULL, NULL);
		GRANT SELECT ON %[1]s TO %[2]s`, name, appUser)); err != nil {
		t.Fatal(err)
	}
	return name
}

// rt35Ordered is rt13Run for a statement whose order matters: the rows
// must come in the same order (or phiguard refuses with 0A000, or both
// fail alike).
func (f *sortFixture) rt35Ordered(t *testing.T, c rt13Case) {
	t.Helper()
	for _, mode := range bothModes {
		want, werr := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, pgx.TextFormatCode, c.args...)
		got, gerr := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, pgx.TextFormatCode, c.args...)
		var wpe, gpe *pgconn.PgError
		switch {
		case gerr != nil && errors.As(gerr, &gpe) && gpe.Code == "0A000":
		case werr != nil && gerr != nil && errors.As(werr, &wpe) && errors.As(gerr, &gpe) && wpe.Code == gpe.Code:
		case werr != nil || gerr != nil:
			t.Errorf("%v: %s: directly %v, through phiguard %v", mode, c.sql, werr, gerr)
		case want != got:
			t.Errorf("%v: %s: through phiguard\n%s\ndirectly\n%s", mode, c.sql, got, want)
		}
	}
}

// TestRedTeam35NamesHold: names bound the way PostgreSQL binds them
// today, kept as they are: the same answer or a refusal.
func TestRedTeam35NamesHold(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	plain := rt35PlainTable(t)
	q := func(s string) string { return strings.ReplaceAll(s, "{plain}", plain) }
	f.sameOrRefusedAll(t, []rt13Case{
		// an EXISTS whose relation has the outer encrypted column's name, qualified
		{sql: "SELECT id FROM %[1]s t WHERE EXISTS (SELECT 1 FROM (SELECT 't1'::text AS tag) t WHERE t.tag = 't1')"},
		{sql: q("SELECT id FROM %[1]s WHERE id IN (SELECT n FROM {plain} x WHERE x.tag = 't1')")},
		// a non-LATERAL subquery skips its siblings: x is the outer people
		{sql: "SELECT count(*) FROM %[1]s x WHERE EXISTS (SELECT 1 FROM %[2]s x, (SELECT 1 WHERE x.tag = 't1') s)"},
		{sql: "SELECT count(*) FROM %[1]s x WHERE EXISTS (WITH c AS (SELECT 1 AS k WHERE x.tag = 't1') SELECT 1 FROM %[2]s x, c)"},
		// NATURAL JOIN on encrypted columns of both sides
		{sql: "SELECT p.id FROM %[1]s p NATURAL JOIN (SELECT id, tag FROM %[1]s WHERE grp = 1) q"},
		// swapped output names of a subquery
		{sql: "SELECT s.tag FROM (SELECT name AS tag, tag AS name FROM %[1]s) s WHERE s.name = 't1'"},
		{sql: "SELECT s.tag FROM (SELECT name AS tag, tag AS name FROM %[1]s) s WHERE s.tag = 'Smith'"},
		{sql: "SELECT tag FROM (SELECT name AS tag, tag AS name FROM %[1]s) s WHERE name = 't2'"},
		{sql: "SELECT p.id FROM %[1]s p, LATERAL (SELECT p.name AS tag) l WHERE l.tag = 'Smith'"},
		{sql: "SELECT p.id FROM %[1]s p, LATERAL (SELECT p.tag AS name) l WHERE l.name = 't1'"},
		// GROUP BY binds an input column before an output name
		{sql: "SELECT max(grp) AS name FROM %[1]s GROUP BY name"},
		{sql: "SELECT count(*) AS tag FROM %[1]s GROUP BY tag"},
		{sql: "SELECT name AS nm, count(*) FROM %[1]s GROUP BY 1"},
		{sql: "SELECT DISTINCT ON (tag) name AS tag FROM %[1]s"},
		{sql: "SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM %[2]s WHERE person = %[1]s.id AND city = 'Bern')"},
		{sql: "SELECT p.id FROM %[1]s p WHERE p.tag = (SELECT tag FROM (SELECT 't1'::text AS tag) x)"},
	})
	// ORDER BY binds an output name before an input column.
	for _, c := range []rt13Case{
		{sql: "SELECT name AS tag, id FROM %[1]s ORDER BY tag, id"},
		{sql: "SELECT tag AS name, id FROM %[1]s ORDER BY name, id"},
		{sql: "SELECT id AS name FROM %[1]s ORDER BY name"},
		{sql: "SELECT id AS tag FROM %[1]s ORDER BY tag"},
		{sql: "SELECT name AS id FROM %[1]s ORDER BY id"},
		{sql: "SELECT id, name AS score FROM %[1]s ORDER BY score DESC, id"},
		{sql: "SELECT id, score AS name, name AS score FROM %[1]s ORDER BY name, id"},
		{sql: "SELECT p.id, p.name AS born FROM %[1]s p ORDER BY born, p.id"},
		{sql: "SELECT grp AS name, id FROM %[1]s ORDER BY name, id LIMIT 10"},
		{sql: "SELECT id, born AS name FROM %[1]s ORDER BY name NULLS FIRST, id"},
	} {
		f.rt35Ordered(t, c)
	}
}

// TestRedTeam35InnerColumnShadowsEncrypted: an unqualified name that an
// inner query level's plain column has is that column in PostgreSQL
// (the innermost level that has the name binds it); the planner's
// scope.resolve takes it for an enclosing level's encrypted column of
// that name, encrypts the constant compared with it, and the database
// compares plaintext with ciphertext: 0 rows (or count 0) where
// PostgreSQL answers every row. A function in FROM is no relation of the
// planner's scope at all (planner.fromItem's default case), so even a
// qualified u.tag over unnest(...) AS u(tag) goes to an outer u. Closed:
// sqlrewrite/scope_columns.go binds at the innermost level that has the
// name (a table's columns checked in the catalog), and a function in
// FROM is a relation of its level.
func TestRedTeam35InnerColumnShadowsEncrypted(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	plain := rt35PlainTable(t)
	q := func(s string) string { return strings.ReplaceAll(s, "{plain}", plain) }
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT 't1'::text AS tag) x WHERE tag = 't1')"},
		{sql: "WITH x AS (SELECT 't1'::text AS tag) SELECT id FROM %[1]s WHERE EXISTS (SELECT 1 FROM x WHERE tag = 't1')"},
		{sql: "SELECT id, (SELECT count(*) FROM (VALUES ('t1'), ('t2')) v(tag) WHERE tag = 't1') AS n FROM %[1]s"},
		{sql: "SELECT p.id FROM %[1]s p JOIN %[2]s a ON a.person = p.id AND EXISTS (SELECT 1 FROM (SELECT 't1'::text AS tag) z WHERE tag = 't1')"},
		{sql: q("SELECT id FROM %[1]s WHERE id IN (SELECT n FROM {plain} WHERE tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s WHERE id IN (SELECT n FROM {plain} WHERE tag = $1)"), args: []any{"t1"}},
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['t1']) AS u(tag) WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT 't1'::text) s(tag) WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT 't1'::text AS tag UNION SELECT 't2') s WHERE tag = 't1')"},
		{sql: "SELECT id FROM %[1]s u WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['t1']) AS u(tag) WHERE u.tag = 't1')"},
		{sql: q("SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {plain} tag WHERE tag = 't1')")},
		{sql: "UPDATE %[1]s SET grp = 9 WHERE EXISTS (SELECT 1 FROM (SELECT 't1'::text AS tag) x WHERE tag = 't1') RETURNING id"},
	})
}

// TestRedTeam35NaturalJoinPlainSide: NATURAL JOIN joins on every column
// name both sides have; planner.naturalJoin refuses only a name that is
// encrypted on both sides, so an encrypted column joined with a plain
// one of the same name (a subquery's, VALUES', a plain table's) is
// compared as ciphertext with plaintext: 0 rows where PostgreSQL answers
// the matching ones. Closed: refused (naturalWithPlain), a table's
// columns checked in the catalog.
func TestRedTeam35NaturalJoinPlainSide(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT id FROM %[1]s NATURAL JOIN (SELECT 't1'::text AS tag) t"},
		{sql: "SELECT id FROM %[1]s NATURAL JOIN (SELECT $1::text AS tag) t", args: []any{"t1"}},
		{sql: "SELECT a.id FROM %[2]s a NATURAL JOIN (SELECT 'Bern'::text AS city) c"},
	})
}

// rt35Leak is one statement a role must be refused (42501 or 0A000):
// real is a query, run straight on the database as the superuser, whose
// single text column holds the values the rule hides; an answer whose
// values are among them is a leak.
type rt35Leak struct {
	user, sql, real string
}

// rt35Refused runs each case through phiguard and fails unless it is
// refused; when it is answered, it says whether the answer holds the
// hidden values.
func rt35Refused(t *testing.T, p *phiguard, cases []rt35Leak) {
	t.Helper()
	su := accessSuperuser(t)
	ctx := testContext(t)
	for _, c := range cases {
		conn := p.as(t, c.user)
		for _, mode := range bothModes {
			var vals []*string
			rows, err := conn.Query(ctx, c.sql, mode)
			if err == nil {
				// a refusal comes here in the simple protocol, from Query
				// (at Parse) in the extended one
				vals, err = pgx.CollectRows(rows, pgx.RowTo[*string])
			}
			var pe *pgconn.PgError
			if err != nil && errors.As(err, &pe) && (pe.Code == "42501" || pe.Code == "0A000") {
				continue
			}
			if err != nil {
				t.Errorf("%s (%v): %v", c.sql, mode, err)
				continue
			}
			var got []string
			for _, v := range vals {
				if v != nil {
					got = append(got, *v)
				}
			}
			var hidden int
			if err := su.QueryRow(ctx, "SELECT count(*) FROM unnest($1::text[]) g(v) WHERE v IN ("+c.real+")", got).Scan(&hidden); err != nil {
				t.Fatal(err)
			}
			t.Errorf("%s as %s (%v): answered %d values, %d of them values the rule hides: %q",
				c.sql, c.user, mode, len(got), hidden, got)
		}
	}
}

// TestRedTeam35JoinAliasHidesQualifier: an alias on a JOIN hides the
// names of the tables it joins (FROM (t a JOIN t b ON ...) j: a and b
// cannot be named at that level), so PostgreSQL binds a.col to an
// enclosing level's a. The planner keeps the joined tables in the
// level's scope under their own names (planner.fromItem, JoinExpr), so
// scope.resolve binds a.tag to the plain table a of the join, takes it
// for a plain column, and sends the constant compared with the outer
// encrypted people.tag in clear: 0 rows where PostgreSQL answers the
// rows tagged t1, and the value reaches the database unencrypted.
// Closed: the alias replaces the tables it joins past their ON.
func TestRedTeam35JoinAliasHidesQualifier(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	plain := rt35PlainTable(t)
	q := func(s string) string { return strings.ReplaceAll(s, "{plain}", plain) }
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: q("SELECT id FROM %[1]s a WHERE EXISTS (SELECT 1 FROM ({plain} a JOIN {plain} b ON true) j WHERE a.tag = 't1')")},
		{sql: q("SELECT id FROM %[1]s a WHERE EXISTS (SELECT 1 FROM ({plain} a JOIN {plain} b ON true) j WHERE a.tag = $1)"), args: []any{"t1"}},
		{sql: q("SELECT id FROM %[1]s a WHERE EXISTS (SELECT 1 FROM ({plain} a JOIN {plain} b ON true) j WHERE a.name = 'Smith')")},
		{sql: q("SELECT p.id FROM %[1]s a, LATERAL (SELECT a.id FROM ({plain} a JOIN {plain} b ON true) j WHERE a.tag = 't1' LIMIT 1) p")},
	})
}

// TestRedTeam35ColumnNotation: t.f, where table t has no column f, is
// the function f applied to t's whole row (to_jsonb(t)): PostgreSQL's
// column notation. The planner's scope.resolve takes t.f for a plain
// column of t, so the whole row, with its ciphertexts, goes into the
// function, and a value compared with what comes out of it reaches the
// database in clear: p.to_jsonb ->> 'tag' = 't1' matches nothing where
// PostgreSQL answers the rows tagged t1. (to_jsonb(p), p::text and
// (p).x are refused as whole-row references; p.row_to_json in the
// select list is refused too.) Closed: q.f on a protected table is
// checked in the catalog to be a column (Plan.Notation), else refused.
func TestRedTeam35ColumnNotation(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.sameOrRefusedAll(t, []rt13Case{
		{sql: "SELECT p.id FROM %[1]s p WHERE p.to_jsonb ->> 'tag' = $1", args: []any{"t1"}},
		{sql: "SELECT p.id FROM %[1]s p WHERE p.to_jsonb ->> 'tag' = 't1'"},
		{sql: "SELECT count(*) FROM %[1]s p WHERE p.row_to_json::text LIKE '%%Smith%%'"},
		{sql: "SELECT a.id FROM %[2]s a WHERE a.to_jsonb ->> 'city' = 'Bern'"},
		{sql: "SELECT p.id, p.row_to_json FROM %[1]s p"},
	})
}

// TestRedTeam35AccessJoinAliasHides: the same hiding for the access
// rewriter: accessWalker.fromItem keeps a join alias's tables visible
// under their own names, so a.zip in a subquery over (providers a JOIN
// providers b ON true) j is taken for providers' (no rule) where
// PostgreSQL reads the enclosing patients a's zip, masked for billing.
func TestRedTeam35AccessJoinAliasHides(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	rt35Refused(t, p, []rt35Leak{
		{"biller", "SELECT (SELECT a.zip || '' FROM (providers a JOIN providers b ON true) j LIMIT 1) FROM patients a LIMIT 3", "SELECT zip FROM patients"},
		{"researcher", "SELECT (SELECT a.patient::text FROM (providers a JOIN providers b ON true) j LIMIT 1) FROM encounters a LIMIT 3", "SELECT id::text FROM patients"},
	})
}

// TestRedTeam35AccessStarAliasColumns: a subquery's or WITH query's *
// adds only its restricted columns to what the access rewriter knows of
// its outputs (derivedRel), in rule order, so an alias's column list
// renames them by the wrong positions: (SELECT * FROM encounters)
// s(a, b, c, d) gives the pseudonymized patient's rule to a, while in
// PostgreSQL d is encounters.patient; d::text then hands the research
// role real patient ids.
func TestRedTeam35AccessStarAliasColumns(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	rt35Refused(t, p, []rt35Leak{
		{"researcher", "SELECT d::text FROM (SELECT * FROM encounters) s(a, b, c, d) LIMIT 3", "SELECT id::text FROM patients"},
		{"researcher", "WITH w(a, b, c, d) AS (SELECT * FROM encounters) SELECT d::text FROM w LIMIT 3", "SELECT id::text FROM patients"},
		{"researcher", "WITH w AS (SELECT * FROM encounters) SELECT d::text FROM w AS x(a, b, c, d) LIMIT 3", "SELECT id::text FROM patients"},
	})
}

// TestRedTeam35AccessSiblingAlias: a FROM subquery without LATERAL does
// not see the FROM items beside it; PostgreSQL binds x.col in it to an
// enclosing level's x. The access rewriter walks it in the scope of its
// level, siblings included (accessWalker.fromItem, RangeSubselect), so
// x is the sibling, which has no restricted column of that name, and
// the enclosing x's restricted column is read unruled.
func TestRedTeam35AccessSiblingAlias(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	rt35Refused(t, p, []rt35Leak{
		{"researcher", "SELECT (SELECT s.v FROM providers x, (SELECT x.patient::text AS v) s LIMIT 1) FROM encounters x LIMIT 3", "SELECT id::text FROM patients"},
		{"biller", "SELECT (SELECT s.v FROM providers x, (SELECT x.zip || '' AS v) s LIMIT 1) FROM patients x LIMIT 3", "SELECT zip FROM patients"},
		{"biller", "SELECT (SELECT s.v FROM providers x JOIN (SELECT x.zip || '' AS v) s ON true LIMIT 1) FROM patients x LIMIT 3", "SELECT zip FROM patients"},
		{"biller", "SELECT (SELECT s.v FROM providers x, (SELECT row_to_json(x)->>'zip' AS v) s LIMIT 1) FROM patients x LIMIT 3", "SELECT zip FROM patients"},
	})
}

// TestRedTeam35AccessOrderPositionAfterStar: the access rewriter checks
// an ORDER BY position against its list of outputs, in which a * has
// only the restricted columns (accessWalker.targets), so a position
// after a * names another column there than in PostgreSQL: SELECT id, *
// FROM encounters ORDER BY 5 and SELECT * FROM encounters ORDER BY 4
// sort by the pseudonymized patient (in PostgreSQL's numbering), which
// the research role may not sort by.
// SELECT * FROM encounters ORDER BY 1, where 1 is id, was refused; it
// is answered now.
func TestRedTeam35AccessOrderPositionAfterStar(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	research := p.as(t, "researcher")
	for _, q := range []string{
		"SELECT id, * FROM encounters ORDER BY 5, 1 LIMIT 3",
		"SELECT * FROM encounters ORDER BY 4 LIMIT 3",
		"SELECT * FROM (SELECT * FROM encounters) s ORDER BY 4 LIMIT 3",
	} {
		for _, mode := range bothModes {
			out, err := rowsRaw(t, research, q, mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			if err == nil || !errors.As(err, &pe) || pe.Code != "42501" {
				t.Errorf("%s (%v): want 42501 (ORDER BY a pseudonymized column), got %v\n%s", q, mode, err, out)
			}
		}
	}
	for _, q := range []string{
		"SELECT * FROM encounters ORDER BY 1 LIMIT 3",
		"SELECT * FROM (SELECT * FROM encounters) s(a, b, c) ORDER BY 1, 2 LIMIT 3",
	} {
		for _, mode := range bothModes {
			if out, err := rowsRaw(t, research, q, mode, pgx.TextFormatCode); err != nil || out == "" {
				t.Errorf("%s (%v): want an answer (ORDER BY id), got %v\n%s", q, mode, err, out)
			}
		}
	}
}

// TestRedTeam35AccessPushDownHiddenAlias: the access rewriter copies a
// level's `col = constant` conditions into the row rule's subquery of
// the table they name (pushDown, injectionFor), finding the table by
// alias among the level's items, the tables a JOIN alias hides
// included. In (encounters e JOIN (SELECT 1) v ON true) j, e is hidden
// and PostgreSQL binds e.id to the enclosing level's e; the copy filters
// the inner encounters by it as well, and the count answers 1 where
// PostgreSQL, under the same rule, counts all of dr_alice's encounters.
func TestRedTeam35AccessPushDownHiddenAlias(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ctx := testContext(t)
	var id string
	var want int
	su := accessSuperuser(t)
	if err := su.QueryRow(ctx, "SELECT min(id::text), count(*)::int FROM encounters WHERE patient IN "+aliceSees).Scan(&id, &want); err != nil {
		t.Fatal(err)
	}
	alice := p.as(t, "dr_alice")
	q := "SELECT (SELECT count(*) FROM (encounters e JOIN (SELECT 1 AS k) v ON true) j WHERE e.id = $1)::int FROM encounters e WHERE e.id = $1"
	for _, mode := range bothModes {
		var n int
		if err := alice.QueryRow(ctx, q, mode, id).Scan(&n); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && (pe.Code == "42501" || pe.Code == "0A000") {
				continue
			}
			t.Fatalf("%s (%v): %v", q, mode, err)
		}
		if n != want {
			t.Errorf("%s (%v): %d, PostgreSQL under the row rule: %d", q, mode, n, want)
		}
	}
}
