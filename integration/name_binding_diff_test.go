package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
)

// nameBindingCorpus is the statements of TestNameBindingDifferential:
// a column name tag (encrypted in people, %[1]s) written in a subquery
// over items that have a plain tag or not, in each way PostgreSQL binds
// a name: unqualified, by a qualifier of the subquery's own items or of
// the outer query, past a sibling in a JOIN's ON. with and without are
// plain tables with and without a column tag.
func nameBindingCorpus(with, without string) []string {
	outers := []string{"%[1]s p", "%[1]s x", "%[1]s"}
	inners := []string{
		"WITH", "WITHOUT", "WITH w", "WITHOUT o",
		"(SELECT 't1' AS tag) v", "(SELECT * FROM WITH) v", "(SELECT * FROM WITHOUT) v",
		"WITHOUT o JOIN WITH w ON true", "(WITHOUT o JOIN WITH w ON true) j", "(WITHOUT o JOIN WITHOUT o2 ON true) j",
		"(SELECT person FROM WITH) v(tag)", "(SELECT tag FROM WITH) v(label)", "generate_series(1, 2) g(tag)", "generate_series(1, 2) g",
		"(VALUES ('t1')) v(tag)", "(SELECT CASE WHEN true THEN w.tag END FROM WITH w) v", "(SELECT w.tag::text FROM WITH w) v",
		"(SELECT w.* FROM WITH w) v", "WITH x, WITHOUT a JOIN WITHOUT b ON x.tag = 't1'", "WITH w, LATERAL (SELECT w.tag) l",
	}
	names := []string{"tag", "p.tag", "x.tag", "v.tag", "w.tag", "j.tag", "public.%[1]s.tag"}
	var out []string
	for _, o := range outers {
		for _, i := range inners {
			i = strings.NewReplacer("WITHOUT", without, "WITH", with).Replace(i)
			// A bare GROUP BY name: the level's own FROM column before
			// an output column's name, that before an outer column.
			out = append(out,
				fmt.Sprintf("SELECT id, (SELECT count(*) FROM (SELECT 1 AS tag FROM %s GROUP BY tag) g) FROM %s", i, o),
				fmt.Sprintf("SELECT id, (SELECT count(*) FROM (SELECT 1 FROM %s GROUP BY tag) g) FROM %s", i, o),
				// ORDER BY and DISTINCT ON: an output column's name
				// first, then the columns.
				fmt.Sprintf("SELECT id, (SELECT person FROM %s ORDER BY tag DESC NULLS LAST LIMIT 1) FROM %s", i, o),
				fmt.Sprintf("SELECT id, (SELECT count(*) FROM (SELECT DISTINCT ON (tag) 1 FROM %s) d) FROM %s", i, o),
				// A GROUP BY list in parentheses is flattened: tag is
				// bare (red team 38b); an alias of another case is
				// not the name.
				fmt.Sprintf("SELECT id, (SELECT count(*) FROM (SELECT 1 AS tag FROM %s GROUP BY (tag, 1)) g) FROM %s", i, o),
				fmt.Sprintf(`SELECT id, (SELECT count(*) FROM (SELECT DISTINCT ON (tag) 1 AS "Tag" FROM %s ORDER BY tag) d) FROM %s`, i, o))
			for _, n := range names {
				for _, cond := range []string{n + " = 't1'", n + " IS NULL"} {
					out = append(out,
						fmt.Sprintf("SELECT id FROM %s WHERE EXISTS (SELECT 1 FROM %s WHERE %s)", o, i, cond),
						fmt.Sprintf("SELECT id, (SELECT count(*) FROM %s WHERE %s) FROM %s", i, cond, o))
				}
			}
		}
	}
	return out
}

// TestNameBindingDifferential: every statement of nameBindingCorpus,
// through phiguard over the encrypted people and directly over the
// plaintext copy, in both protocols, answers the same rows, or is
// refused (0A000) where PostgreSQL answers; where PostgreSQL refuses it
// (a name it binds to nothing, or ambiguously), phiguard must not answer
// rows. The statements are PostgreSQL's own binding rules at work on an
// encrypted column: a name bound one level off encrypts a constant
// compared with a plain column (0 rows) or sends one compared with the
// ciphertext in clear.
func TestNameBindingDifferential(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("catalog_binds_names=%v", on), func(t *testing.T) {
			t.Parallel()
			configure := func(c *config.Config) { c.Limits.CatalogBindsNames = on }
			nameBindingDifferential(t, newSortFixture(t, 40, configure))
		})
	}
}

// nameBindingDifferential runs the corpus on one fixture.
func nameBindingDifferential(t *testing.T, f *sortFixture) {
	with, without := uniqueName("nb_with"), uniqueName("nb_without")
	if _, err := superuser(t).Exec(testContext(t), "CREATE TABLE "+with+" (person int, tag text); INSERT INTO "+with+
		" VALUES (1, 't1'), (2, 't2'), (3, NULL); CREATE TABLE "+without+" (person int, note text); INSERT INTO "+without+
		" VALUES (1, 'a'), (2, 'b'); GRANT ALL ON "+with+", "+without+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	corpus := nameBindingCorpus(with, without)
	var answered, refused, invalid int
	for _, q := range corpus {
		for _, mode := range bothModes {
			want, derr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			switch {
			case derr != nil:
				invalid++
				if gerr == nil {
					t.Errorf("%s (%v): PostgreSQL refuses it (%v), phiguard answered\n%s", q, mode, derr, got)
				}
			case gerr != nil:
				refused++
				if testing.Verbose() {
					t.Logf("refused: %s: %v", q, gerr)
				}
				if !errors.As(gerr, &pe) || pe.Code != "0A000" {
					t.Errorf("%s (%v): phiguard failed (%v) where PostgreSQL answers", q, mode, gerr)
				}
			case sortedLines(got) != sortedLines(want):
				t.Errorf("%s (%v): through phiguard\n%s\ndirectly\n%s", q, mode, got, want)
			default:
				answered++
			}
		}
	}
	t.Logf("%d statements, both protocols: %d answered alike, %d refused by phiguard, %d refused by PostgreSQL", len(corpus), answered, refused, invalid)
	if answered < len(corpus)/2 {
		t.Errorf("only %d of %d answered: the corpus no longer tests binding", answered, 2*len(corpus))
	}
}
