package integration

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Proxy-side WHERE on encrypted columns (issue 13, docs/search.md): a
// conjunct comparing an encrypted column with a constant or a parameter
// is evaluated by phiguard on the decrypted values, before its sort and
// LIMIT/OFFSET; the answers are those of the plaintext tables directly,
// in both protocols and both result formats.

// sameRows is same for a statement without ORDER BY: the two tables'
// rows need not lie in the same order on disk (encrypted rows are
// longer), so the rows are compared as a multiset; that phiguard keeps
// the database's order is TestFilterEncryptedKeepsOrder's.
func (f *sortFixture) sameRows(t *testing.T, q string, args ...any) {
	t.Helper()
	f.compare(t, q, sortedLines, args...)
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestFilterEncryptedShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 150, nil)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT id, name FROM %[1]s WHERE name > 'Smith'", nil},
		{"SELECT id FROM %[1]s WHERE name >= $1 AND grp <> 2", []any{"S"}},
		{"SELECT id FROM %[1]s WHERE score NOT BETWEEN -10.5 AND 10", nil},
		{"SELECT id FROM %[1]s WHERE score IS DISTINCT FROM $1", []any{"25.00"}},
		{"SELECT id FROM %[1]s WHERE name IS NOT DISTINCT FROM NULL", nil},
		{"SELECT id FROM %[1]s WHERE name = NULL", nil},
		{"SELECT id FROM %[1]s WHERE name <> '' AND tag = 't1' AND born IS NOT NULL", nil},
		{"SELECT id FROM %[1]s WHERE tag > 't3' AND tag <> 't5'", nil},
		{"SELECT id, born FROM %[1]s WHERE born < $1::date", []any{"1970-01-01"}},
		{"SELECT * FROM %[1]s WHERE score > 12 AND 99 >= score AND name < 'a'", nil},
		{"SELECT id, name FROM %[1]s WHERE name LIKE 'S%%th'", nil},
		{"SELECT id, name FROM %[1]s WHERE name LIKE 'S_%%'", nil},
		{"SELECT id, name FROM %[1]s WHERE name NOT LIKE $1 AND tag LIKE 't_'", []any{"%%m%%"}},
		{"SELECT id, name FROM %[1]s WHERE name LIKE 'O!''%%' ESCAPE '!' AND name IS NOT NULL", nil},
		{"SELECT id, name FROM %[1]s WHERE name LIKE $1 ESCAPE $2", []any{"O!'%", "!"}},
		{"SELECT id, name FROM %[1]s WHERE name LIKE '_lz'", nil},
	} {
		f.sameRows(t, q.sql, q.args...)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT id, born FROM %[1]s WHERE born < '1970-01-01' ORDER BY born DESC, id LIMIT 10", nil},
		{"SELECT id FROM %[1]s WHERE born BETWEEN $1 AND $2 ORDER BY id LIMIT $3 OFFSET $4", []any{"1950-01-01", "1960-12-31", 5, 2}},
		{"SELECT id, score FROM %[1]s WHERE score <= 0 AND '-50' < score ORDER BY score, id", nil},
		{"SELECT id FROM %[1]s WHERE score BETWEEN SYMMETRIC 20 AND -20 ORDER BY id OFFSET 3", nil},
		{"SELECT id FROM %[1]s WHERE tag > 't3' ORDER BY name, id", nil},
		{"SELECT a.id, b.name FROM %[2]s a LEFT JOIN %[1]s b ON b.id = a.person WHERE a.city = 'Bern' AND b.born > '1960-01-01'::date ORDER BY a.id", nil},
		{"SELECT s.id FROM (SELECT id, born FROM %[1]s WHERE grp = 1) s WHERE s.born >= DATE '1950-01-01' ORDER BY s.id DESC", nil},
		{"SELECT id FROM %[1]s WHERE score > 12 ORDER BY grp, id LIMIT 4", nil},
		{"SELECT id, name FROM %[1]s WHERE score > $1 AND name >= $2 ORDER BY name DESC, id FETCH FIRST 6 ROWS ONLY", []any{"-20.5", "Smith"}},
		{"SELECT id FROM %[1]s WHERE score < 5 AND score > -5 AND born >= '1950-06-01' ORDER BY born, id LIMIT 3 OFFSET 1", nil},
	} {
		f.same(t, q.sql, q.args...)
	}
	// A parameter has the type it has on the plaintext table: the
	// column's (text for a varchar), as ParameterDescription says.
	for _, q := range []string{
		"SELECT id FROM %[1]s WHERE born > $1 AND score BETWEEN $2 AND $3 AND name >= $4 AND tag IS DISTINCT FROM $5 ORDER BY id",
		"SELECT id FROM %[1]s WHERE $1 < born AND grp = $2",
	} {
		want, err := f.dir.PgConn().Prepare(testContext(t), "", f.sql(q, 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.via.PgConn().Prepare(testContext(t), "", f.sql(q, 1), nil)
		if err != nil || !slices.Equal(got.ParamOIDs, want.ParamOIDs) {
			t.Fatalf("%s: parameter types %v through phiguard (%v), %v directly", q, got.ParamOIDs, err, want.ParamOIDs)
		}
	}
	// The constants come back printed in the session's DateStyle and
	// TimeZone, which phiguard reads them in.
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(testContext(t), "SET DateStyle = 'SQL, DMY'; SET TimeZone = 'America/New_York'"); err != nil {
			t.Fatal(err)
		}
	}
	f.same(t, "SELECT id, born FROM %[1]s WHERE born > '02/03/1960' AND born <= $1 ORDER BY born, id", "31/12/1975")
	// A date compared with a timestamptz is compared as timestamptz in
	// PostgreSQL, which phiguard does not do: refused, not guessed.
	_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s WHERE born < '1970-01-01 03:00+14'::timestamptz ORDER BY id", 1), pgx.QueryExecModeSimpleProtocol, 0)
	wantCode(t, err, "0A000", "with a value of another type")
}
