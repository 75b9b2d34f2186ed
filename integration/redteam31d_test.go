package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Red team of the trailing plaintext run sent as the statement's ORDER BY
// (sqlrewrite/sort_arrival.go, docs/search.md "The trailing run"): the
// run's keys are sent as the client wrote them, an output name as its
// entry's position, and phiguard's stable sort keeps the rows' arrival
// order within ties of the encrypted keys before the run.

// TestRedTeam31dStarBeforeOutputName: an ORDER BY name that is an entry
// after a * (`SELECT p.*, grp ... ORDER BY name, grp`) was sent as the
// entry's position in the client's list (2), which in the expanded list
// is the *'s second column, the encrypted name's ciphertext: rows equal
// on name came in the ciphertexts' order, not grp's. The name is sent as
// written now. Plain rounds (sort_rounds_plain.go) send the same items.
func TestRedTeam31dStarBeforeOutputName(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 150, nil)
	f.same(t, `SELECT p.*, grp FROM %[1]s p ORDER BY name, grp, id`)
	f.same(t, `SELECT *, grp FROM %[1]s ORDER BY name DESC, grp DESC NULLS FIRST, id DESC`)
	f.same(t, `SELECT id, p.*, grp FROM %[1]s p ORDER BY name, grp DESC, 1`)
	f.same(t, `SELECT grp, * FROM %[1]s ORDER BY name, grp DESC, id`) // the entry before the *: its position holds
	f.same(t, `SELECT a.*, b.name FROM %[2]s a LEFT JOIN %[1]s b ON b.id = a.person ORDER BY b.name, sequence DESC NULLS FIRST, id`)
	// Plain rounds (no encrypted key, a filter on one, a LIMIT).
	f.same(t, `SELECT p.*, grp FROM %[1]s p WHERE name >= 'O' ORDER BY grp DESC, id LIMIT 12`)
}

// TestRedTeam31dParenthesizedName: an output name or a position in
// parentheses (`ORDER BY name, (grp)`, `(3) DESC`) is the same item to
// PostgreSQL; the rewrite wrote the position and the item's text after
// its first token (`3 grp)`), a syntax error where the plaintext
// database answers.
func TestRedTeam31dParenthesizedName(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	f.same(t, `SELECT id, name, grp FROM %[1]s ORDER BY name, (grp), id`)
	f.same(t, `SELECT id, name, grp AS g FROM %[1]s ORDER BY name, ((g)) DESC NULLS FIRST, (1)`)
	f.same(t, `SELECT id, name, grp FROM %[1]s ORDER BY name, (3) DESC, id`)
	// A window's rank (a run before an encrypted key) and plain rounds.
	f.same(t, `SELECT id, name, grp FROM %[1]s ORDER BY (grp) DESC, name, (1)`)
	f.same(t, `SELECT id, name, grp FROM %[1]s WHERE name >= 'O' ORDER BY (grp) DESC, (1) LIMIT 9`)
}

// TestRedTeam31dHeld: shapes of the trailing run that gave the plaintext
// twin's answer (both protocols, both formats): output names that are
// other entries' input names, positions, USING, COLLATE, expressions, a
// window function, a scalar subquery, a parameter, NULL-extended rows of
// an outer join, an encrypted key after a plaintext one, a deterministic
// key (and a run comparing it with constants), filters phiguard
// evaluates, LIMIT and OFFSET, comments and a semicolon, and a run under
// a nondeterministic collation (a unique key last); and the shapes
// phiguard refuses.
func TestRedTeam31dHeld(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 200, nil)
	if _, err := superuser(t).Exec(testContext(t), `CREATE COLLATION IF NOT EXISTS phiguard_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT id, name, grp FROM %[1]s ORDER BY name, grp DESC NULLS FIRST, id`,
		`SELECT name, id AS grp, grp AS id FROM %[1]s ORDER BY name, id, grp`,
		`SELECT name, id, grp FROM %[1]s ORDER BY 1 DESC, 3, 2 DESC`,
		`SELECT id, name, grp FROM %[1]s ORDER BY name, grp USING >, id USING <`,
		`SELECT id, name FROM %[1]s ORDER BY name, CAST(grp AS text) COLLATE "C" DESC, id`,
		`SELECT id, name FROM %[1]s ORDER BY name, (CASE WHEN id %% 2 = 0 THEN 'X' ELSE 'x' END) COLLATE phiguard_ci, id`,
		`SELECT id, name FROM %[1]s ORDER BY name NULLS FIRST, grp * -1, id %% 7, id`,
		`SELECT id, name FROM %[1]s ORDER BY name, row_number() OVER (ORDER BY id DESC)`,
		`SELECT p.id, p.name FROM %[1]s p ORDER BY p.name, (SELECT count(*) FROM %[2]s a WHERE a.person = p.id) DESC, p.id`,
		`SELECT a.id, b.name, b.grp FROM %[2]s a LEFT JOIN %[1]s b ON b.id = a.person AND b.grp < 2 ORDER BY b.name DESC, b.grp DESC NULLS FIRST, a.id`,
		`SELECT a.id, b.name FROM %[2]s a LEFT JOIN %[1]s b ON b.id = a.person ORDER BY b.name, a.sequence NULLS FIRST, b.grp, a.id DESC`,
		`SELECT id, name, born FROM %[1]s ORDER BY name, grp, born DESC, id`,
		`SELECT id, tag FROM %[1]s ORDER BY tag, grp DESC, id`,
		`SELECT id, name FROM %[1]s ORDER BY name, grp, name, id`,
		`SELECT id, name, grp FROM %[1]s ORDER BY name, grp, id LIMIT 17 OFFSET 5`,
		`SELECT id, name, grp FROM %[1]s ORDER BY name, grp, id OFFSET 190 ROWS`,
		`SELECT id, name, grp FROM %[1]s ORDER BY name, grp /* ; */ DESC, id -- c`,
		`SELECT id, name, grp FROM %[1]s ORDER BY name, grp DESC, id;`,
		`WITH c AS (SELECT id, name, grp FROM %[1]s) SELECT c.id, c.name FROM c ORDER BY c.name, c.grp, c.id`,
		`SELECT s.id, s.name FROM (SELECT id, name, grp FROM %[1]s) s ORDER BY s.name DESC, s.grp, s.id`,
		`SELECT id, name FROM %[1]s WHERE name >= 'O' ORDER BY name, grp DESC, id`,
		`SELECT p.id, p.name FROM %[1]s p WHERE p.id IN (SELECT a.person FROM %[2]s a WHERE a.city >= 'Bern') ORDER BY p.name, p.grp DESC, p.id`,
		`SELECT p.id, p.name FROM %[1]s p WHERE EXISTS (SELECT 1 FROM %[2]s a WHERE a.person = p.id AND a.city < 'Bern') ORDER BY p.name DESC, p.grp, p.id`,
		`SELECT id, name, 1 AS c FROM %[1]s ORDER BY name, c, grp, id`,
		`SELECT id, name FROM %[1]s ORDER BY name, tag = 't1', tag IN ('t2', 't3') DESC, tag IS NULL, id`,
	} {
		f.same(t, q)
	}
	f.same(t, `SELECT id, name FROM %[1]s ORDER BY name, id %% $1, id`, 3)
	// Refused (0A000), where the rows' order would rest on more than the
	// run: FOR SHARE, WITH TIES, DISTINCT ON, a window in the select
	// list, a parenthesized SELECT, a cursor.
	for _, q := range []string{
		`SELECT id, name FROM %[1]s ORDER BY name, grp DESC, id FOR SHARE`,
		`SELECT id, name FROM %[1]s ORDER BY name, grp DESC, id FETCH FIRST 3 ROWS WITH TIES`,
		`SELECT DISTINCT ON (grp) grp, name FROM %[1]s ORDER BY grp, name, id`,
		`SELECT id, name, row_number() OVER (ORDER BY id) FROM %[1]s ORDER BY name, grp, id`,
		`(SELECT id, name FROM %[1]s ORDER BY name, grp DESC, id) LIMIT 5`,
		`DECLARE c CURSOR WITH HOLD FOR SELECT id, name FROM %[1]s ORDER BY name, grp DESC, id`,
	} {
		for _, mode := range bothModes {
			if _, err := f.dir.Exec(testContext(t), f.sql(q, 0), mode); err != nil {
				t.Fatalf("directly: %s: %v", q, err)
			}
			_, err := f.via.Exec(testContext(t), f.sql(q, 1), mode)
			words := ""
			if strings.HasPrefix(q, "(") { // the text phiguard cannot cut names the column it sorts by
				words = ".name to evaluate it itself (no SELECT keyword outside parentheses"
			}
			wantCode(t, err, "0A000", words)
			f.dir.Exec(testContext(t), "CLOSE ALL") //nolint:errcheck // the cursor, if any
		}
	}
}

// TestRedTeam31dManyTies (held): 600 rows on 10 names and NULL, read whole and in
// portions of 1, 7 and 250 rows (Execute with a row limit), keep the
// order of the run within each name.
func TestRedTeam31dManyTies(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 600, nil)
	if _, err := f.dir.Exec(testContext(t), fmt.Sprintf(`UPDATE %s SET name = NULL WHERE id %% 3 = 0`, f.people[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := f.via.Exec(testContext(t), fmt.Sprintf(`UPDATE %s SET name = NULL WHERE id %% 3 = 0`, f.people[1])); err != nil {
		t.Fatal(err)
	}
	qs := []string{
		`SELECT id, name, grp FROM %[1]s ORDER BY name DESC NULLS LAST, grp DESC, id`,
		`SELECT id, name, grp FROM %[1]s ORDER BY name NULLS FIRST, -grp, id DESC`,
	}
	for _, q := range qs {
		f.same(t, q)
		for _, n := range []uint32{1, 7, 250} {
			for _, name := range []string{"unnamed", "transaction"} {
				script := portionScripts[name]
				want := &portionConn{rawConn: dialRaw(t, directURL(appUser, appPassword, appDB))}
				got := &portionConn{rawConn: dialRaw(t, f.p.url(appUser, appPassword, appDB))}
				script(t, want, f.sql(q, 0), n)
				script(t, got, f.sql(q, 1), n)
				want.Conn.Close()
				got.Conn.Close()
				if countPrefix(want.lines, "DataRow") < 600 || !slices.Equal(want.lines, got.lines) {
					diffTranscripts(t, want.lines, got.lines)
					t.Fatalf("%s, %s, %d: %d rows directly", q, name, n, countPrefix(want.lines, "DataRow"))
				}
			}
		}
	}
}
