package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestLackProbePlaces: a name bound past an inner table (people's
// encrypted tag, from inside a subquery over z) is sent with a probe that
// z lacks it (sqlrewrite/scope_probe.go), in the level's WHERE, or, where
// the level has none, in a WHERE of its own after its FROM clause: the
// name in a JOIN's ON, in the select list, in a HAVING, in an arm of a
// UNION. Each statement answers as PostgreSQL does while z lacks tag;
// once z gains it straight on the database (unseen by the catalog), it
// is refused (0A000) or answered alike, and run again, it answers as
// PostgreSQL does.
func TestLackProbePlaces(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	for _, q := range []string{
		"SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1')",
		"SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM {z} a JOIN {z} b ON a.n = b.n AND tag = 't1')",
		"SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM ({z} a JOIN {z} b ON a.n = b.n AND tag = 't1') /* c */)",
		"SELECT id, (SELECT count(*) FROM {z} GROUP BY n HAVING tag = 't1' ORDER BY 1 LIMIT 1) FROM %[1]s ORDER BY id",
		"SELECT id, (SELECT count(*) FROM {z} a, LATERAL (SELECT a.n) l GROUP BY a.n HAVING tag = 't1' ORDER BY 1 LIMIT 1) FROM %[1]s ORDER BY id",
		"SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM {z} WHERE tag = 't1' UNION ALL SELECT 1 FROM {z} WHERE false)",
		"SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM {z} GROUP BY n HAVING tag = 't1' UNION SELECT 2 FROM {z} WHERE false)",
		"SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM (SELECT * FROM {z}) v WHERE ((tag = 't1')))",
		"SELECT count(*) FROM %[1]s p WHERE EXISTS (SELECT 1 FROM {z} \"Z q\" WHERE NOT (tag <> 't1'))",
	} {
		for _, mode := range bothModes {
			lackProbeRun(t, f, q, mode)
		}
	}
}

// lackProbeRun runs q over a fresh z on each side: while z lacks tag,
// after z gains it straight on the database, and again.
func lackProbeRun(t *testing.T, f *sortFixture, q string, mode pgx.QueryExecMode) {
	ctx := testContext(t)
	{
		var fresh, after, again [2]string
		var freshErr, afterErr, againErr [2]error
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			z := uniqueName("lackp")
			su := superuser(t)
			if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (n int, label text); INSERT INTO %[1]s VALUES (1, 't1'), (2, 't2'); GRANT ALL ON %[1]s TO %[2]s", z, appUser)); err != nil {
				t.Fatal(err)
			}
			sql := strings.ReplaceAll(f.sql(q, side), "{z}", z)
			fresh[side], freshErr[side] = rowsRaw(t, conn, sql, mode, pgx.TextFormatCode)
			if _, err := su.Exec(ctx, "ALTER TABLE "+z+" RENAME COLUMN label TO tag"); err != nil {
				t.Fatal(err)
			}
			after[side], afterErr[side] = rowsRaw(t, conn, sql, mode, pgx.TextFormatCode)
			again[side], againErr[side] = rowsRaw(t, conn, sql, mode, pgx.TextFormatCode)
		}
		lackSame(t, q+", z without tag", fresh, freshErr, false)
		lackSame(t, q+", after z gained tag", after, afterErr, true)
		lackSame(t, q+", run again", again, againErr, false)
	}
}

// lackSame fails unless phiguard (side 1) answered as PostgreSQL (side
// 0): the same rows, or an error where PostgreSQL failed too (its code,
// or phiguard's refusal); with mayRefuse, phiguard's refusal where
// PostgreSQL answers is allowed.
func lackSame(t *testing.T, what string, out [2]string, errs [2]error, mayRefuse bool) {
	t.Helper()
	var gpe, wpe *pgconn.PgError
	refused := errs[1] != nil && errors.As(errs[1], &gpe) && gpe.Code == "0A000"
	switch {
	case errs[0] == nil && errs[1] == nil && out[0] == out[1]:
	case errs[0] == nil && refused && mayRefuse:
		t.Logf("%s: refused: %v", what, errs[1])
	case errs[0] != nil && errs[1] != nil && errors.As(errs[0], &wpe) && (refused || errors.As(errs[1], &gpe) && gpe.Code == wpe.Code):
	default:
		t.Errorf("%s: directly %.80q %v, through phiguard %.80q %v", what, out[0], errs[0], out[1], errs[1])
	}
}
