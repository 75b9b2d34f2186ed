package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// rt37Args runs sql (with {p}, {x}) with args on each side, in both
// protocols, on a fresh plain table {x} (n int, tag text) holding
// (1, 'zz') and (2, 't1'), and compares: the same, or refused 0A000.
func (f *sortFixture) rt37Args(t *testing.T, sql string, args ...any) {
	t.Helper()
	for _, mode := range bothModes {
		var out [2]string
		var errs [2]error
		for side := range 2 {
			conn := direct(t)
			if side == 1 {
				conn = f.p.app(t)
			}
			x := uniqueName("rt37_x")
			if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(`CREATE TABLE %[1]s (n int, tag text); INSERT INTO %[1]s VALUES (1, 'zz'), (2, 't1'); GRANT ALL ON %[1]s TO %[2]s`, x, appUser)); err != nil {
				t.Fatal(err)
			}
			q := strings.NewReplacer("{p}", f.people[side], "{x}", x).Replace(sql)
			out[side], errs[side] = rowsRaw(t, conn, q, mode, pgx.TextFormatCode, args...)
			out[side] = sortedLines(out[side])
		}
		rt35bSame(t, fmt.Sprintf("%s %v (%v)", sql, args, mode), out[0], out[1], errs[0], errs[1])
	}
}

// TestRedTeam37QualifiedParams: the qualified name beside parameters,
// encrypted literals written or compared, and comparisons on cells the
// database evaluates with their guard: the edits of one text together.
func TestRedTeam37QualifiedParams(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, c := range []struct {
		sql  string
		args []any
	}{
		{"SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE tag = $1)", []any{"t1"}},
		{"SELECT count(*) FROM {p} WHERE tag = $1 AND EXISTS (SELECT 1 FROM {x} WHERE tag = $2)", []any{"t1", "t1"}},
		{"SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE tag = $1) AND tag = $2", []any{"t1", "t2"}},
		{"SELECT count(*) FROM {p} WHERE tag = 't2' AND EXISTS (SELECT 1 FROM {x} WHERE tag = $1 AND n = 2) AND tag <> 't3'", []any{"t1"}},
		{"SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE {p}.tag = tag)", nil},
		{"SELECT count(*) FROM {p} WHERE {p}.tag IN (SELECT tag FROM {x})", nil},
		{"SELECT count(*) FROM {p} WHERE EXISTS (SELECT 1 FROM {x} WHERE tag = {p}.tag)", nil},
		{"SELECT count(*) FROM {p} a WHERE EXISTS (SELECT 1 FROM {x} JOIN {p} b ON b.tag = a.tag WHERE {x}.n = 2 AND b.id = a.id AND EXISTS (SELECT 1 FROM {x} y WHERE tag = 't1'))", nil},
		{"SELECT id FROM {p} WHERE tag = $1 AND EXISTS (SELECT 1 FROM {x} WHERE tag = 't1') ORDER BY name, id", []any{"t3"}},
		{"SELECT id FROM {p} WHERE name = $1 AND EXISTS (SELECT 1 FROM {x} WHERE tag = $2) ORDER BY born, id", []any{"Smith", "t1"}},
		{"SELECT id FROM {p} WHERE name LIKE $1 AND EXISTS (SELECT 1 FROM {x} WHERE tag = 't1') ORDER BY score DESC, id", []any{"Sm%"}},
		{"UPDATE {p} SET tag = 't4' WHERE id = 3 AND EXISTS (SELECT 1 FROM {x} WHERE tag = 't1') RETURNING id", nil},
		{"UPDATE {p} SET tag = $1 WHERE id = $2 AND EXISTS (SELECT 1 FROM {x} WHERE tag = $3) RETURNING id", []any{"t5", 4, "t1"}},
		{"SELECT count(*) FROM {p} WHERE tag = 't4' OR tag = 't5'", nil},
		{"UPDATE {p} SET tag = CAST(CASE WHEN EXISTS (SELECT 1 FROM {x} WHERE tag = 'zz' AND n = 1) THEN 't9' END AS text) WHERE id = 6 RETURNING id", nil},
		{"UPDATE {p} SET tag = CAST(CASE WHEN EXISTS (SELECT 1 FROM {x} WHERE tag = $1) THEN $2 ELSE 't10' END AS text) WHERE id = $3 RETURNING id", []any{"t1", "t11", 7}},
		{"SELECT id, tag FROM {p} WHERE id IN (6, 7)", nil},
		{"SELECT count(*) FROM {p} WHERE tag IN ('t9', 't10', 't11')", nil},
		{"INSERT INTO {p} (id, tag) SELECT 1000 + n, 't6' FROM {x} WHERE EXISTS (SELECT 1 FROM {p} WHERE id = 1 AND EXISTS (SELECT 1 FROM {x} y WHERE tag = 't1')) RETURNING id", nil},
	} {
		t.Run("", func(t *testing.T) { f.rt37Args(t, c.sql, c.args...) })
	}
}
