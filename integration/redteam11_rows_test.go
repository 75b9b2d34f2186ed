package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam11ScratchRows: cells open into reused scratch buffers; rows
// holding several encrypted columns of different types, sorted, filtered
// and de-duplicated on the same and on other columns, with subquery
// filters beside, must read as the plaintext tables' in both protocols
// and both result formats (a value overwritten by the next cell's
// opening would show here).
func TestRedTeam11ScratchRows(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 150, nil)
	for _, q := range []string{
		"SELECT name, born, score, tag, id, name FROM %[1]s WHERE name >= 'S' AND born > '1950-01-01' ORDER BY score DESC NULLS LAST, name, id",
		"SELECT DISTINCT name, born, tag FROM %[1]s WHERE name LIKE 'S%%' ORDER BY born, name, tag",
		"SELECT name, name AS n2, born, born AS b2, score FROM %[1]s WHERE born < '1970-01-01' AND score > -50 ORDER BY name DESC, born, id",
		"SELECT name, count(*), min(born), max(score) FROM %[1]s GROUP BY name ORDER BY count(*) DESC, name",
		"SELECT o.name, o.born, o.score FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city ILIKE 'b%%') AND o.name <> 'Smith' ORDER BY o.born, o.id",
		"SELECT o.id, o.name, o.tag FROM %[1]s o WHERE EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND s.city = 'Bern') AND o.born >= '1960-01-01' ORDER BY o.name DESC, o.id",
		"SELECT a.city, p.name, p.born, a.id FROM %[2]s a JOIN %[1]s p ON p.id = a.person WHERE a.city >= 'B' ORDER BY p.name, a.city, a.id LIMIT 40",
		"SELECT DISTINCT p.name, a.city FROM %[2]s a JOIN %[1]s p ON p.id = a.person WHERE p.name ILIKE '%%s%%' ORDER BY a.city, p.name",
		"SELECT o.id, o.name FROM %[1]s o WHERE o.id NOT IN (SELECT s.person FROM %[2]s s WHERE s.city ILIKE 'z%%' AND s.person IS NOT NULL) AND o.name IS NOT NULL ORDER BY o.name, o.id",
	} {
		for _, mode := range bothModes {
			for _, format := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
				want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, format)
				if err != nil {
					t.Fatalf("directly: %s: %v", q, err)
				}
				got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, format)
				if err != nil || got != want {
					t.Errorf("%v format %d: %s: through phiguard %v\n%s\ndirectly\n%s", mode, format, q, err, got, want)
				}
			}
		}
	}
}
