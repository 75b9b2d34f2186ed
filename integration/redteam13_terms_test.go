package integration

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team 13 on search terms slice 4 (docs/search.md "Through search
// terms"): a term conjunct narrows the rows in the database and phiguard
// re-checks the client's conjunct; a term written where its filter is
// not a whole conjunct (under OR or NOT, in an outer join's ON, inside
// NOT IN/NOT EXISTS, in a set operation's arm, in a subquery with LIMIT,
// DISTINCT ON or a window), or a term constant computed otherwise than
// the stored cells' terms (numeric -0, NaN, 1e1, date infinity, a
// trailing space, non-ASCII), would drop rows PostgreSQL keeps. None
// found: PostgreSQL's answer or 0A000 everywhere.

// TestRedTeam13TermPlacement: where a term conjunct may and may not go.
func TestRedTeam13TermPlacement(t *testing.T) {
	t.Parallel()
	f, relay := newTermSortFixture(t, 80)
	var cases []rt13Case
	for _, q := range []string{
		"SELECT id FROM %[1]s WHERE id NOT IN (SELECT a.person FROM %[2]s a WHERE a.city = 'Bern')",
		"SELECT p.id FROM %[1]s p WHERE p.id NOT IN (SELECT a.person FROM %[2]s a WHERE a.city < 'C' AND a.person IS NOT NULL)",
		"SELECT id FROM %[1]s p WHERE NOT EXISTS (SELECT 1 FROM %[2]s a WHERE a.person = p.id AND a.city = 'Bern')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM %[2]s a WHERE a.person = p.id AND a.city > 'B')",
		"SELECT id FROM %[1]s p WHERE p.id IN (SELECT a.person FROM %[2]s a WHERE a.city BETWEEN 'A' AND 'Bz')",
		"SELECT id FROM %[1]s EXCEPT SELECT id FROM %[1]s WHERE born > '1970-01-01'",
		"SELECT id FROM %[1]s WHERE born > '1970-01-01' UNION SELECT id FROM %[1]s WHERE name = 'Smith'",
		"SELECT id FROM %[1]s WHERE born > '1970-01-01' INTERSECT SELECT id FROM %[1]s WHERE grp = 1",
		"SELECT a.id FROM %[2]s a LEFT JOIN %[1]s p ON p.id = a.person WHERE p.born > '1970-01-01'",
		"SELECT a.id FROM %[2]s a LEFT JOIN %[1]s p ON p.id = a.person AND p.born > '1970-01-01'",
		"SELECT a.id FROM %[2]s a LEFT JOIN %[1]s p ON p.id = a.person WHERE a.city = 'Bern' OR p.born > '1970-01-01'",
		"SELECT a.id FROM %[2]s a FULL JOIN %[1]s p ON p.id = a.person WHERE a.city = 'Bern'",
		"SELECT a.id FROM %[2]s a RIGHT JOIN %[1]s p ON p.id = a.person WHERE a.city < 'C'",
		"SELECT s.id FROM (SELECT id, born FROM %[1]s WHERE born > '1970-01-01' LIMIT 5) s",
		"SELECT s.id FROM (SELECT id, born FROM %[1]s ORDER BY id LIMIT 30) s WHERE s.born > '1970-01-01'",
		"SELECT s.id FROM (SELECT DISTINCT ON (grp) id, born FROM %[1]s ORDER BY grp, id) s WHERE s.born > '1970-01-01'",
		"SELECT s.id FROM (SELECT id, born, row_number() OVER () r FROM %[1]s) s WHERE s.born > '1970-01-01'",
		"SELECT count(*) FROM %[1]s WHERE born > '1970-01-01'",
		"SELECT id FROM %[1]s WHERE born > '1970-01-01' ORDER BY id LIMIT 3",
		"SELECT id FROM %[1]s WHERE born = '1970-01-01' OR born IS NULL",
		"SELECT id FROM %[1]s WHERE NOT (born = '1970-01-01')",
		"SELECT id FROM %[1]s WHERE name = 'Smith' AND (grp = 1 OR name > 'A')",
		"SELECT id FROM %[1]s WHERE tag > 't1' AND tag <> 't4'",
		"WITH w AS (SELECT id, born FROM %[1]s) SELECT id FROM w WHERE born > '1970-01-01'",
		"WITH w AS MATERIALIZED (SELECT id, born FROM %[1]s WHERE grp = 1) SELECT id FROM w WHERE born > '1970-01-01'",
		"SELECT p.id FROM %[1]s p, LATERAL (SELECT p.born AS b) l WHERE l.b > '1970-01-01'",
		"SELECT p.id FROM %[1]s p JOIN %[1]s q ON q.id = p.id + 1 WHERE q.born > '1970-01-01' AND p.born < '1980-01-01'",
		"SELECT id FROM %[1]s WHERE born > '1970-01-01' AND born < '1960-01-01'",
		"SELECT id FROM %[1]s WHERE '1970-01-01' < born",
		"SELECT id FROM %[1]s WHERE born NOT BETWEEN '1950-01-01' AND '1970-01-01'",
		"SELECT id FROM %[1]s WHERE born BETWEEN '1970-01-01' AND '1950-01-01'",
		"SELECT id FROM %[1]s WHERE born > NULL",
		"SELECT id FROM %[1]s WHERE born BETWEEN NULL AND '1970-01-01'",
	} {
		cases = append(cases, rt13Case{sql: q})
	}
	if tally := f.sameOrRefusedAll(t, cases); tally.same < 40 {
		t.Errorf("only %d answers compared", tally.same)
	}
	if sent := relay.take(); !bytes.Contains(sent, []byte("phiguard.term_ord_v1(")) {
		t.Error("no order term conjunct sent: the attack did not reach the terms")
	}
}

// TestRedTeam13TermSpellings: values whose canonical form is not their
// spelling (numeric -0.000, NaN, 0.00; date ±infinity; a trailing space;
// a non-ASCII letter) are written through phiguard, then searched with
// other spellings of the same value: the term of the constant must be the
// stored cell's, or the database drops the row before the re-check.
func TestRedTeam13TermSpellings(t *testing.T) {
	t.Parallel()
	f, _ := newTermSortFixture(t, 80)
	ctx := testContext(t)
	for _, q := range []string{
		"UPDATE %[1]s SET score = '0.00', born = 'infinity' WHERE id = 3",
		"UPDATE %[1]s SET score = '-0.000', born = '-infinity', name = 'Smith ' WHERE id = 4",
		"UPDATE %[1]s SET score = 'NaN', born = '1970-01-01', name = E'sm\\u00f6' WHERE id = 5",
		"UPDATE %[1]s SET score = '1e1', born = '2000-02-29', name = 'Ölz ' WHERE id = 6",
	} {
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, f.sql(q, side)); err != nil {
				t.Fatalf("side %d: %s: %v", side, q, err)
			}
		}
	}
	var cases []rt13Case
	for _, q := range []string{
		"SELECT id FROM %[1]s WHERE score = 0",
		"SELECT id FROM %[1]s WHERE score = -0",
		"SELECT id FROM %[1]s WHERE score = '-0.0'",
		"SELECT id FROM %[1]s WHERE score >= 0 AND score <= 0",
		"SELECT id FROM %[1]s WHERE score = 'NaN'",
		"SELECT id FROM %[1]s WHERE score > 99",
		"SELECT id FROM %[1]s WHERE score = 10",
		"SELECT id FROM %[1]s WHERE score = 1e1",
		"SELECT id FROM %[1]s WHERE score BETWEEN 9.999 AND 10.0",
		"SELECT id FROM %[1]s WHERE born = 'infinity'",
		"SELECT id FROM %[1]s WHERE born > '2100-01-01'",
		"SELECT id FROM %[1]s WHERE born < '1900-01-01'",
		"SELECT id FROM %[1]s WHERE born = 'epoch'",
		"SELECT id FROM %[1]s WHERE born = '1970-01-01 00:00'",
		"SELECT id FROM %[1]s WHERE born = '2000-02-29'::date",
		"SELECT id FROM %[1]s WHERE name = 'Smith'",
		"SELECT id FROM %[1]s WHERE name = 'Smith '",
		"SELECT id FROM %[1]s WHERE name = E'sm\\u00f6'",
		"SELECT id FROM %[1]s WHERE name = 'smö'",
		"SELECT id FROM %[1]s WHERE name > 'sm' AND name < 'sn'",
		"SELECT id FROM %[1]s WHERE name >= 'Ölz' AND name <= 'Ölz '",
		"SELECT id FROM %[1]s WHERE name = 'Smith'::varchar",
		"SELECT id FROM %[1]s WHERE tag <= 't1 '",
		"SELECT id FROM %[1]s WHERE 't3' >= tag",
	} {
		cases = append(cases, rt13Case{sql: q})
	}
	cases = append(cases, rt13Case{"SELECT id FROM %[1]s WHERE score = $1", []any{"-0"}},
		rt13Case{"SELECT id FROM %[1]s WHERE born = $1", []any{"infinity"}},
		rt13Case{"SELECT id FROM %[1]s WHERE name = $1", []any{strings.Repeat("Ö", 1) + "lz "}})
	if tally := f.sameOrRefusedAll(t, cases); tally.same < 40 {
		t.Errorf("only %d answers compared", tally.same)
	}
}

// TestRedTeam13ForgedFormat2Prefix: the terms-present CHECK looks at the
// first five bytes (~phs~), so a value written around phiguard as
// '~phs~' + plaintext passes it. phiguard must not serve that value as
// plaintext: reading it fails (it is no cell phiguard can open), and the
// text never reaches the client.
func TestRedTeam13ForgedFormat2Prefix(t *testing.T) {
	t.Parallel()
	f, _ := newTermSortFixture(t, 10)
	ctx := testContext(t)
	if _, err := superuser(t).Exec(ctx, "UPDATE "+f.people[1]+" SET name = '~phs~Forgedname', tag = '~phs~~~~' WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT id, name FROM %[1]s WHERE id = 2",
		"SELECT id, tag FROM %[1]s WHERE id = 2",
		"SELECT id, name FROM %[1]s WHERE name = 'Forgedname' OR id = 2",
		"SELECT id, name FROM %[1]s ORDER BY name",
	} {
		for _, mode := range bothModes {
			got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			if err == nil || strings.Contains(got, "Forgedname") || strings.Contains(err.Error(), "Forgedname") {
				t.Errorf("%v: %s: got %q, %v; want an error without the value", mode, q, got, err)
			}
		}
	}
}
