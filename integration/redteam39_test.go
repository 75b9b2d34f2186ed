package integration

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/config"
)

// Red team 39: the lack probes in a WHERE the proxy filters (41aadfe):
// the proxy's cut skips the probes first in the WHERE
// (sqlrewrite/sort_probe_skip.go), at the top level and in an IN or
// EXISTS subquery's WHERE, and the rewrite's check counts the
// conjuncts past them. Cases run through rt38Check (redteam38_test.go).

// rt39Fake is a conjunct a client writes of the probe's form: true.
const rt39Fake = "(SELECT NULL FROM (SELECT 1) AS phiguard_lacks) IS NULL"

// TestRedTeam39ClientProbeShifts: a client's conjunct of the probe's
// form, first in the WHERE, followed by a parenthesised AND holding a
// filter. On 41aadfe the cut skipped it as a probe, and behind it (a AND
// b) AND c flattened to three conjuncts, as the plan counts the client's:
// the cut was shifted by one with no check failing, name = 'Smith' went
// to the database (its constant too) on the ciphertext and (id > 0 AND
// id < 50) was sent as true: PostgreSQL 3 rows (4, 12, 23), phiguard 0,
// in every protocol. Now the cut skips the plan's probes only
// (SortPlan.probes, sort_probe_skip.go).
func TestRedTeam39ClientProbeShifts(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt38Hole(t, rt38Case{what: "client's probe, then a tree", sql: "SELECT id FROM {p} WHERE " + rt39Fake + " AND (name = 'Smith' AND (id > 0 AND id < 50)) AND id < 100"})
}

// TestRedTeam39GluedKeyword: a filtered conjunct written against a
// keyword (where(b.city = 'Bern'), AND(name = 'Smith')AND,
// BETWEEN'A'AND'T'AND) was replaced by true glued to it (wheretrue,
// ANDtrue, trueAND): the rewrite did not parse and the statement was
// refused, 0A000 "could not rewrite ... syntax error at or near
// "ANDtrue"", where PostgreSQL answers (3 to 18 rows). With the probe
// 41aadfe puts after a subquery's WHERE, where(...) gave ANDtrue. The
// replacement is now spaced from a word it touches (sortCut.spaced).
func TestRedTeam39GluedKeyword(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, c := range []rt38Case{
		{what: "lower-case where glued to (", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} where(b.city = 'Bern') AND b.person = {p}.id AND tag = 't1')"},
		{what: "glued: AND(...)AND at the top", sql: "SELECT id FROM {p} WHERE id > 0 AND(name = 'Smith')AND id < 50"},
		{what: "glued: BETWEEN'a'AND'b'AND", sql: "SELECT id FROM {p} WHERE id > 0 AND name BETWEEN'A'AND'T'AND id < 50"},
		{what: "glued: NOT EXISTS(...)AND", sql: "SELECT id FROM {p} WHERE id > 0 AND NOT EXISTS(SELECT 1 FROM {a} b, {z} where(b.city = 'Bern')AND b.person = {p}.id AND tag = 't1')AND id < 50"},
		{what: "glued: EXISTS(...)AND", sql: "SELECT id FROM {p} WHERE id > 0 AND EXISTS(SELECT 1 FROM {a} b, {z} where(b.city = 'Bern')AND b.person = {p}.id AND tag = 't1')AND id < 50"},
	} {
		f.rt38Hole(t, c)
	}
}

// rt39Sub is an EXISTS over {a} b and {z} whose WHERE phiguard filters
// in the proxy (b.city, randomized), with tag bound past {z} to {p}'s
// encrypted tag: its level holds the probe of {z}.
func rt39Sub(where string) string {
	return "EXISTS (SELECT 1 FROM {a} b, {z} WHERE " + where + ")"
}

// rt39Held are the shapes that held on branch rt39: answered as PostgreSQL
// answers them, or refused (0A000) as a shape phiguard does not
// evaluate, while the catalog is right; after the gain refused or
// answered alike; and again answered alike or refused as before, never
// by the probe again (rt39Judge).
var rt39Held = []rt38Case{
	{what: "NOT IN with NULLs inside", sql: "SELECT id FROM {p} WHERE {p}.id NOT IN (SELECT b.person FROM {a} b, {z} WHERE b.city = 'Bern' AND tag = 't1')"},
	{what: "IN", sql: "SELECT id FROM {p} WHERE {p}.id IN (SELECT b.person FROM {a} b, {z} WHERE b.city = 'Bern' AND tag = 't1')"},
	{what: "= ANY", sql: "SELECT id FROM {p} WHERE {p}.id = ANY (SELECT b.person FROM {a} b, {z} WHERE b.city = 'Bern' AND tag = 't1')"},
	{what: "NOT (IN)", sql: "SELECT id FROM {p} WHERE NOT ({p}.id IN (SELECT b.person FROM {a} b, {z} WHERE b.city = 'Bern' AND tag = 't1'))"},
	{what: "IN with a labelled entry", sql: "SELECT id FROM {p} WHERE {p}.id IN (SELECT b.person AS k FROM {a} b, {z} WHERE b.city = 'Bern' AND tag = 't1')"},
	{what: "parenthesised first conjunct", sql: "SELECT id FROM {p} WHERE " + rt39Sub("(b.city = 'Bern' AND b.person = {p}.id) AND tag = 't1'")},
	{what: "whole WHERE parenthesised", sql: "SELECT id FROM {p} WHERE " + rt39Sub("((b.city = 'Bern') AND b.person = {p}.id AND tag = 't1')")},
	{what: "filter last", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.person = {p}.id AND tag = 't1' AND b.city = 'Bern'")},
	{what: "name first", sql: "SELECT id FROM {p} WHERE " + rt39Sub("tag = 't1' AND b.person = {p}.id AND b.city = 'Bern'")},
	{what: "comment after WHERE", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE /* c */ b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
	{what: "line comment after WHERE", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE -- c\n b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
	{what: "tabs and newlines", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z}\n\tWHERE\n\tb.city = 'Bern'\n\tAND b.person = {p}.id AND tag = 't1')"},
	{what: "two ranges on the column", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city >= 'B' AND b.city < 'C' AND b.person = {p}.id AND tag = 't1'")},
	{what: "BETWEEN", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city BETWEEN 'A' AND 'C' AND b.person = {p}.id AND tag = 't1'")},
	{what: "LIKE", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city LIKE 'B%' AND b.person = {p}.id AND tag = 't1'")},
	{what: "lower()", sql: "SELECT id FROM {p} WHERE " + rt39Sub("lower(b.city) = 'bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "IS DISTINCT FROM", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city IS DISTINCT FROM 'Bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "parameters", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city = $1 AND b.person = {p}.id AND tag = $2"), args: []any{"Bern", "t1"}},
	{what: "JOIN ON", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b JOIN {z} ON true WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
	{what: "{z} aliased", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} AS q WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
	{what: "two tables probed", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z}, {z} AS w WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
	{what: "two names probed", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1' AND grp < 3)",
		gain: "ALTER TABLE {z} ADD COLUMN tag text DEFAULT 't1', ADD COLUMN grp int DEFAULT 9"},
	{what: "two names, one gained", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1' AND grp < 3)",
		gain: "ALTER TABLE {z} ADD COLUMN grp int DEFAULT 9"},
	{what: "function item probed through its row", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {s}.f() AS f WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')",
		setup: "CREATE FUNCTION {s}.f() RETURNS TABLE (n int) LANGUAGE sql AS $$SELECT 1$$",
		gain:  "DROP FUNCTION {s}.f(); CREATE FUNCTION {s}.f() RETURNS TABLE (n int, tag text) LANGUAGE sql AS $$SELECT 1, 't2'$$"},
	{what: "function item and a table", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z}, {s}.f() AS f WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')",
		setup: "CREATE FUNCTION {s}.f() RETURNS TABLE (n int) LANGUAGE sql AS $$SELECT 1$$"},
	{what: "two subqueries probed", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") +
		" AND NOT EXISTS (SELECT 1 FROM {a} c, {z} w WHERE c.city = 'Basel' AND c.person = {p}.id AND tag = 't2')"},
	{what: "probed subquery beside a tree", sql: "SELECT id FROM {p} WHERE (name = 'Smith' OR score > 50) AND " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "probed subquery first, then a filter", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " AND name = 'Smith'"},
	{what: "parenthesised at the top", sql: "SELECT id FROM {p} WHERE (" + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " AND name <> 'Smith') AND score < 0"},
	{what: "sorted with a LIMIT", sql: "SELECT id, name FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " ORDER BY name, id LIMIT 5"},
	{what: "sorted with OFFSET", sql: "SELECT id, born FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " ORDER BY born DESC NULLS LAST, id OFFSET 3"},
	{what: "counted", sql: "SELECT count(*) FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "grouped with HAVING", sql: "SELECT grp, count(*) FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " GROUP BY grp HAVING count(*) > 1"},
	{what: "HAVING on min of a randomized column", sql: "SELECT grp FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " GROUP BY grp HAVING min(name) < 'T'"},
	{what: "DISTINCT", sql: "SELECT DISTINCT name FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "client's probe form after the plan's", sql: "SELECT id FROM {p} WHERE " + rt39Sub(rt39Fake+" AND (b.person = {p}.id AND b.person > 0) AND b.city = 'Bern' AND tag = 't1'")},
	{what: "client's probe form at the top", sql: "SELECT id FROM {p} WHERE " + rt39Fake + " AND (score > 0 AND id > 0) AND " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "client's probe form at the top, a tree behind", sql: "SELECT id FROM {p} WHERE " + rt39Fake + " AND (name = 'Smith' AND (id > 0 AND id < 50)) AND id < 100"},
	{what: "client's probe form, a tree in a subquery", sql: "SELECT id FROM {p} WHERE " + rt39Sub(rt39Fake+" AND (b.city = 'Bern' AND (b.person = {p}.id AND b.person > 0)) AND tag = 't1'")},
	{what: "cursor", sql: "ROLLBACK; BEGIN; DECLARE rt39c CURSOR FOR SELECT id FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + "; FETCH ALL rt39c; COMMIT"},
	{what: "outer WHERE with OR above the subquery", sql: "SELECT id FROM {p} WHERE name = 'Smith' OR " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "NOT IN, NULLs, in the proxy", sql: "SELECT id FROM {p} WHERE {p}.id NOT IN (SELECT b.person FROM {a} b, {z} WHERE b.city <> 'Bern' AND tag = 't1')"},
	{what: "a deeper name probes the filtered level", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id AND EXISTS (SELECT 1 FROM {z} w WHERE tag = 't1'))"},
	{what: "the name in the select list", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT tag FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id)"},
	{what: "the name as IN's entry", sql: "SELECT id FROM {p} WHERE {p}.tag IN (SELECT tag FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id)"},
	{what: "the name in IS NOT NULL", sql: "SELECT id FROM {p} WHERE {p}.id IN (SELECT b.person FROM {a} b, {z} WHERE b.city = 'Bern' AND tag IS NOT NULL)"},
	{what: "a WITH query over {z} at the top", sql: "WITH w AS (SELECT * FROM {z}) SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, w WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
	{what: "{z} in a derived table", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, (SELECT * FROM {z}) v WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
	{what: "{z} joined USING", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b JOIN {z} USING (id) WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')",
		setup: "ALTER TABLE {z} ADD COLUMN id int DEFAULT 1"},
	{what: "NOT EXISTS, DISTINCT", sql: "SELECT DISTINCT name FROM {p} WHERE NOT " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "NOT EXISTS, star, sorted", sql: "SELECT * FROM {p} WHERE NOT " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " ORDER BY score, id LIMIT 6"},
	{what: "NOT IN, sorted", sql: "SELECT id, name FROM {p} WHERE {p}.id NOT IN (SELECT b.person FROM {a} b, {z} WHERE b.city = 'Bern' AND tag = 't1') ORDER BY name DESC, id"},
	{what: "NOT EXISTS, DISTINCT ON", sql: "SELECT DISTINCT ON (grp) grp, id FROM {p} WHERE NOT " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " ORDER BY grp, id"},
	{what: "NOT EXISTS twice, both probed", sql: "SELECT id FROM {p} WHERE NOT " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " AND NOT EXISTS (SELECT 1 FROM {a} c, {z} w WHERE c.city = 'Basel' AND c.person = {p}.id AND tag = 't2')"},
	{what: "WITH at the top", sql: "WITH w AS (SELECT 1 AS k) SELECT id FROM {p}, w WHERE w.k = 1 AND " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")},
	{what: "FETCH FIRST", sql: "SELECT id, name FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " ORDER BY name, id FETCH FIRST 4 ROWS ONLY"},
	{what: "FOR UPDATE", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'") + " FOR UPDATE"},
	{what: "the subquery's WHERE ends at a comment", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1' -- c\n)"},
	{what: "a second probe name inside a nested level too", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1' AND EXISTS (SELECT 1 FROM {z} w WHERE grp < 3))",
		gain: "ALTER TABLE {z} ADD COLUMN tag text DEFAULT 't1', ADD COLUMN grp int DEFAULT 9"},
	{what: "NOT IN over a column with NULLs", sql: "SELECT id FROM {p} WHERE {p}.grp NOT IN (SELECT b.sequence FROM {a} b, {z} WHERE b.city = 'Bern' AND tag = 't1')"},
	{what: "NOT IN over a column with NULLs, the filter keeps none", sql: "SELECT id FROM {p} WHERE {p}.grp NOT IN (SELECT b.sequence FROM {a} b, {z} WHERE b.city = 'Nowhere' AND tag = 't1')"},
	{what: "IN over a column with NULLs", sql: "SELECT id FROM {p} WHERE {p}.grp IN (SELECT b.sequence FROM {a} b, {z} WHERE b.city > 'B' AND tag = 't1')"},
	{what: "the filter's column unqualified, {z} gains it", sql: "SELECT id FROM {p} WHERE " + rt39Sub("city = 'Bern' AND b.person = {p}.id AND tag = 't1'"),
		gain: "ALTER TABLE {z} ADD COLUMN city text DEFAULT 'Bern'"},
	{what: "the filter's column unqualified and glued, {z} gains it", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE\"city\" = 'Bern' AND b.person = {p}.id AND tag = 't1')",
		gain: "ALTER TABLE {z} ADD COLUMN city text DEFAULT 'Bern'"},
	{what: "NOT EXISTS, the filter's column unqualified, {z} gains it", sql: "SELECT id FROM {p} WHERE NOT " + rt39Sub("city = 'Bern' AND b.person = {p}.id AND tag = 't1'"),
		gain: "ALTER TABLE {z} ADD COLUMN city text DEFAULT 'Bern'"},
	{what: "NOT EXISTS with a parameter", sql: "SELECT id FROM {p} WHERE NOT " + rt39Sub("b.city = $1 AND b.person = {p}.id AND tag = 't1'"), args: []any{"Bern"}},
}

// TestRedTeam39Held: rt39Held.
func TestRedTeam39Held(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, c := range rt39Held {
		t.Run(c.what, func(t *testing.T) { f.rt39Judge(t, c) })
	}
}

// rt39Judge runs c as rt38Hole does, but takes a refusal of the shape
// (the same refusal before the gain and after) for an answer: the
// statement is refused in every stage or answered in every stage.
func (f *sortFixture) rt39Judge(t *testing.T, c rt38Case) {
	t.Helper()
	got := f.rt38Check(t, c)
	refused := got[0] == rt38Refused
	ok := got[1] != rt38Differs && got[2] != rt38Differs && got[2] != rt38Probe
	if !refused {
		ok = ok && (got[0] == rt38Same || got[0] == rt38Concurrent)
	} else {
		ok = ok && got[1] != rt38Same && got[2] == rt38Refused
	}
	t.Logf("%s: outcomes %v (refused as a shape: %v)", c.what, got, refused)
	if !ok {
		t.Errorf("%s: outcomes before, after the gain, again: %v (0 the same, 1 refused after another session's DDL, 2 refused, 3 the probe's refusal, 4 another answer)", c.what, got)
	}
}

// TestRedTeam39GainOnFilteredTable: {a} itself, the table the proxy
// filters, gains the name (its own fixture: the gain stays).
func TestRedTeam39GainOnFilteredTable(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt39Judge(t, rt38Case{what: "gain on {a}", sql: "SELECT id FROM {p} WHERE " + rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'"),
		gain: "ALTER TABLE {a} ADD COLUMN IF NOT EXISTS tag text DEFAULT 't1'"})
}

// rt39Probed is rt39Sub's usual conjunct.
var rt39Probed = rt39Sub("b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")

// TestRedTeam39TermsAndRounds: the probed subquery beside filters that
// send term conjuncts (a BETWEEN's first: flattened), and in a sort the
// proxy runs in LIMIT rounds.
func TestRedTeam39TermsAndRounds(t *testing.T) {
	t.Parallel()
	terms, _ := newTermSortFixture(t, 60)
	for _, c := range []rt38Case{
		{what: "terms: equality first", sql: "SELECT id FROM {p} WHERE name = 'Smith' AND " + rt39Probed},
		{what: "terms: BETWEEN first", sql: "SELECT id FROM {p} WHERE born BETWEEN '1950-01-01' AND '1980-01-01' AND " + rt39Probed},
		{what: "terms: BETWEEN after the subquery", sql: "SELECT id FROM {p} WHERE " + rt39Probed + " AND born BETWEEN '1950-01-01' AND '1980-01-01'"},
		{what: "terms: BETWEEN first, parenthesised with the subquery", sql: "SELECT id FROM {p} WHERE (born BETWEEN '1950-01-01' AND '1980-01-01' AND " + rt39Probed + ") AND score > 0"},
		{what: "terms: range and LIKE, sorted", sql: "SELECT id, name FROM {p} WHERE score >= 0 AND name LIKE 'S%' AND " + rt39Probed + " ORDER BY name, id LIMIT 4"},
		{what: "terms: parameters", sql: "SELECT id FROM {p} WHERE born BETWEEN $1 AND $2 AND " + rt39Probed, args: []any{"1950-01-01", "1980-01-01"}},
		{what: "terms: client's probe form first", sql: "SELECT id FROM {p} WHERE " + rt39Fake + " AND born BETWEEN '1950-01-01' AND '1980-01-01' AND " + rt39Probed},
	} {
		terms.rt39Judge(t, c)
	}
	rounds := newSortFixture(t, 60, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	for _, c := range []rt38Case{
		{what: "rounds: sorted with a LIMIT", sql: "SELECT id, name FROM {p} WHERE " + rt39Probed + " ORDER BY name, id LIMIT 3"},
		{what: "rounds: NOT EXISTS, sorted", sql: "SELECT id, born FROM {p} WHERE id <= 20 AND NOT " + rt39Probed + " ORDER BY born, id LIMIT 5"},
		{what: "rounds: beside a filter", sql: "SELECT id, score FROM {p} WHERE score > -50 AND " + rt39Probed + " ORDER BY score DESC, id LIMIT 2"},
		{what: "rounds: OFFSET", sql: "SELECT id, name FROM {p} WHERE id <= 20 AND NOT " + rt39Probed + " ORDER BY name, id LIMIT 5 OFFSET 3"},
	} {
		rounds.rt39Judge(t, c)
	}
}

// rt39FirstConjuncts are plaintext predicates to stand first in the
// filtered subquery's WHERE, where the probe goes before them: each
// starts with a token its node's location may not be at.
var rt39FirstConjuncts = []string{
	"TIMESTAMP '2020-01-01' < now()", "DATE '2020-01-01' < CURRENT_DATE", "CURRENT_DATE > DATE '2000-01-01'",
	"INTERVAL '1' DAY > INTERVAL '1' HOUR", "double precision '1' > 0", "time with time zone '12:00' IS NOT NULL",
	"bool 't'", "int4 '1' = 1", "CAST(1 AS int) = 1", "1::int = 1", "CASE WHEN true THEN true END",
	"ARRAY[1] = ARRAY[1]", "ROW(1, 2) = ROW(1, 2)", "(1, 2) = (1, 2)", "b.person IS NOT NULL",
	"b.person BETWEEN 0 AND 100", "b.person::text <> ''", "EXTRACT(YEAR FROM now()) > 0", "|/ 4 = 2",
	"NOT false", "true", "EXISTS (SELECT 1)", "b.person IN (1, 2, 3) OR true", "'a' || 'b' = 'ab'",
	"U&'\\0061' = 'a'", "E'a' = 'a'", "B'1' = B'1'", "current_user IS NOT NULL", "b.person OPERATOR(pg_catalog.>) 0",
	"(b.person) > 0", "b.person IS DISTINCT FROM NULL", "b.active IS NOT FALSE OR b.active IS NULL",
	"coalesce(b.person, 0) >= 0", "NULLIF(1, 2) = 1", "GREATEST(1, 2) = 2", "(SELECT true)", "'t'::boolean",
	"COLLATION FOR ('a') IS NOT NULL", "- b.person < 1", "b.person * 0 = 0", "\"b\".person > 0",
	"position('a' IN 'ab') > 0", "substring('ab' FROM 1 FOR 1) = 'a'", "trim(BOTH FROM ' a ') = 'a'",
	"overlay('ab' PLACING 'c' FROM 1) = 'cb'", "'a' IS NORMALIZED", "now() AT TIME ZONE 'UTC' IS NOT NULL",
	"'ab' SIMILAR TO 'a%'", "'ab' ~ 'a'", "1 = ANY ('{1}'::int[])", "$1::int = 1",
}

// TestRedTeam39OddFirstConjunct: the probe's place after the filtered
// subquery's WHERE when its first conjunct starts oddly; a probe lost
// would show after the gain as another answer.
func TestRedTeam39OddFirstConjunct(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, first := range rt39FirstConjuncts {
		c := rt38Case{what: first, sql: "SELECT id FROM {p} WHERE " + rt39Sub("("+first+") AND b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")}
		if !strings.Contains(first, "OR") {
			c.sql = "SELECT id FROM {p} WHERE " + rt39Sub(first+" AND b.city = 'Bern' AND b.person = {p}.id AND tag = 't1'")
		}
		if strings.Contains(first, "$1") {
			c.args = []any{1}
		}
		t.Run(first, func(t *testing.T) { f.rt39Judge(t, c) })
	}
}

// TestRedTeam39ProbedKinds: the filtered subquery's probed item of
// another kind than a plain table: a view, a materialized view, a
// partitioned table, a sequence, a table whose name needs quotes.
func TestRedTeam39ProbedKinds(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	grant := "; GRANT ALL ON ALL TABLES IN SCHEMA {s} TO {app}; GRANT ALL ON ALL SEQUENCES IN SCHEMA {s} TO {app}"
	sub := func(item string) string {
		return "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, " + item + " WHERE b.city = 'Bern' AND b.person = {p}.id AND tag = 't1')"
	}
	for _, c := range []rt38Case{
		{what: "view", sql: sub("{s}.v"), setup: "CREATE VIEW {s}.v AS SELECT 1 AS n" + grant,
			gain: "CREATE OR REPLACE VIEW {s}.v AS SELECT 1 AS n, 't1'::text AS tag"},
		{what: "materialized view", sql: sub("{s}.m"), setup: "CREATE MATERIALIZED VIEW {s}.m AS SELECT 1 AS n" + grant,
			gain: "DROP MATERIALIZED VIEW {s}.m; CREATE MATERIALIZED VIEW {s}.m AS SELECT 1 AS n, 't1'::text AS tag" + grant},
		{what: "partitioned table", sql: sub("{s}.pt"), setup: "CREATE TABLE {s}.pt (n int) PARTITION BY RANGE (n); CREATE TABLE {s}.pt1 PARTITION OF {s}.pt FOR VALUES FROM (0) TO (10); INSERT INTO {s}.pt VALUES (1)" + grant,
			gain: "ALTER TABLE {s}.pt ADD COLUMN tag text DEFAULT 't1'"},
		{what: "sequence", sql: sub("{s}.q"), setup: "CREATE SEQUENCE {s}.q" + grant,
			gain: "DROP SEQUENCE {s}.q; CREATE TABLE {s}.q (n int, tag text); INSERT INTO {s}.q VALUES (1, 't1')" + grant},
		{what: "quoted mixed-case name", sql: sub(`{s}."Zed"`), setup: `CREATE TABLE {s}."Zed" (n int); INSERT INTO {s}."Zed" VALUES (1)` + grant,
			gain: `ALTER TABLE {s}."Zed" ADD COLUMN tag text DEFAULT 't1'`},
		{what: "quoted name with a dot and a quote", sql: sub(`{s}."z.""q"`), setup: `CREATE TABLE {s}."z.""q" (n int); INSERT INTO {s}."z.""q" VALUES (1)` + grant,
			gain: `ALTER TABLE {s}."z.""q" ADD COLUMN tag text DEFAULT 't1'`},
		{what: "inheritance child gains", sql: sub("{s}.par"), setup: "CREATE TABLE {s}.par (n int); CREATE TABLE {s}.chi () INHERITS ({s}.par); INSERT INTO {s}.chi VALUES (1)" + grant,
			gain: "ALTER TABLE {s}.par ADD COLUMN tag text DEFAULT 't1'"},
	} {
		t.Run(c.what, func(t *testing.T) { f.rt39Judge(t, c) })
	}
}

// TestRedTeam39QualifierAndProbeAtOnePlace: a name the catalog binds to
// an inner table, glued to WHERE (the plan qualifies it there), and a
// probe for another name, both cut at the WHERE keyword's end. The
// qualifier went first, WHERE "x". (SELECT ...) IS NULL AND"tag": at a
// plain level a syntax error (42601) where PostgreSQL answers 56 rows,
// at a filtered one a refusal (0A000, the probes not where the plan put
// them) where it answers 17, in every protocol. The probes are now cut
// first (planner.go).
func TestRedTeam39QualifierAndProbeAtOnePlace(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, c := range []rt38Case{
		{what: "plain level", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {x}, {z} WHERE\"tag\" = 't1' AND name IS NOT NULL)",
			gain: "ALTER TABLE {z} ADD COLUMN name text DEFAULT 'Smith'"},
		{what: "filtered level", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {x} WHERE\"tag\" = 't1' AND b.city = 'Bern' AND b.person = {p}.id AND name IS NOT NULL)",
			gain: "ALTER TABLE {x} ADD COLUMN name text DEFAULT 'Smith'"},
		{what: "filtered level, filter glued", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {x} WHERE\"city\" = 'Bern' AND b.person = {p}.id AND tag = 't1' AND name IS NOT NULL)",
			gain: "ALTER TABLE {x} ADD COLUMN name text DEFAULT 'Smith'"},
		{what: "filtered level, probe only, name glued", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE\"tag\" = 't1' AND b.city = 'Bern' AND b.person = {p}.id)"},
	} {
		t.Run(c.what, func(t *testing.T) { f.rt38Hole(t, c) })
	}
}

// TestRedTeam39ConstantGluedToWhere: WHERE't1' = tag, tag the outer
// level's deterministic column: the probe's AND was followed at once by
// what the plan puts in the constant's place, a CASE of its check
// (ANDCASE): 42601 where PostgreSQL answers 8 rows, in every protocol.
// The probe now ends with a space where the client's text has none.
func TestRedTeam39ConstantGluedToWhere(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt38Hole(t, rt38Case{what: "constant glued, plain level", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE't1' = tag)"})
}

// TestRedTeam39GluedAtProbe: what the plan edits at the probe's point
// (a constant it encrypts, the filter's column) glued to WHERE.
func TestRedTeam39GluedAtProbe(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, c := range []rt38Case{
		{what: "constant glued, filtered level", sql: "SELECT id FROM {p} WHERE " + rt39Sub("'t1' = tag AND b.city = 'Bern' AND b.person = {p}.id")},
		{what: "parenthesised name glued", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE(tag) = 't1')"},
		{what: "minus glued", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE-1 < 0 AND tag = 't1')"},
		{what: "filter's constant glued, filtered level", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE'Bern' = b.city AND b.person = {p}.id AND tag = 't1')"},
		{what: "filter's column glued, filtered level", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {a} b, {z} WHERE\"b\".city = 'Bern' AND b.person = {p}.id AND tag = 't1')"},
		{what: "escape string glued", sql: "SELECT id FROM {p} WHERE EXISTS (SELECT 1 FROM {z} WHERE E't1' = tag)"},
		{what: "parameter first, filtered level", sql: "SELECT id FROM {p} WHERE " + rt39Sub("$1 = tag AND b.city = 'Bern' AND b.person = {p}.id"), args: []any{"t1"}},
		{what: "top-level filter glued beside the probed subquery", sql: "SELECT id FROM {p} WHERE'Smith' = name AND " + rt39Probed},
	} {
		t.Run(c.what, func(t *testing.T) { f.rt39Judge(t, c) })
	}
}
