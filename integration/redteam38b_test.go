package integration

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 38b: the bare GROUP BY name sent qualified (8da882d), the
// bare ORDER BY and DISTINCT ON name sent qualified where no output
// column has it (20372a2), and the lack probe's WHERE after a FROM
// clause (ac7e179). Statements use %[1]s (people, tag encrypted
// deterministic), {z} (a plain table without tag, with columns named
// by reserved words "limit" and "order") and {w} (a plain table with a
// plain tag, which the catalog binds the name to).

// rt38bTables makes {z} and {w} once, alike for both sides.
func rt38bTables(t *testing.T) (z, w string) {
	t.Helper()
	z, w = uniqueName("rt38bz"), uniqueName("rt38bw")
	if _, err := superuser(t).Exec(testContext(t), "CREATE TABLE "+z+` (n int, "limit" int, "order" int, label text); INSERT INTO `+z+
		` VALUES (1, 1, 2, 't1'), (2, 2, 1, 't2'), (3, NULL, NULL, NULL); CREATE TABLE `+w+" (person int, tag text); INSERT INTO "+w+
		" VALUES (1, 't1'), (2, 't2'), (3, NULL), (4, 't0'); GRANT ALL ON "+z+", "+w+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	return z, w
}

// rt38bRun runs q directly (plaintext people) and through phiguard, in
// both protocols; it reports a difference: rows unlike PostgreSQL's, an
// error where PostgreSQL answers other than a refusal (0A000, allowed
// only with mayRefuse), or rows where PostgreSQL fails. It returns
// whether phiguard answered alike.
func rt38bRun(t *testing.T, f *sortFixture, z, w, q string, mayRefuse bool) (alike, refusedByPG bool) {
	t.Helper()
	alike = true
	for _, mode := range bothModes {
		var out [2]string
		var errs [2]error
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			sql := strings.NewReplacer("{z}", z, "{w}", w).Replace(f.sql(q, side))
			out[side], errs[side] = rowsRaw(t, conn, sql, mode, pgx.TextFormatCode)
		}
		var gpe, wpe *pgconn.PgError
		refused := errs[1] != nil && errors.As(errs[1], &gpe) && gpe.Code == "0A000"
		switch {
		case errs[0] == nil && errs[1] == nil && out[0] == out[1]:
		case errs[0] == nil && refused && mayRefuse:
			alike = false
		case errs[0] != nil && errs[1] != nil && errors.As(errs[0], &wpe):
			refusedByPG = true
		default:
			alike = false
			t.Errorf("%s (%v): directly %.120q %v, through phiguard %.120q %v", q, mode, out[0], errs[0], out[1], errs[1])
		}
	}
	return alike, refusedByPG
}

// TestRedTeam38bReservedLabelInOn: a column named by a reserved word
// (limit, order) written after a qualifier in a JOIN's ON is a column
// label, not the LIMIT or ORDER BY clause; the lack probe's WHERE,
// written after the level's FROM clause, went between the qualifier's
// dot and the label ("ON a. WHERE (...) IS NULLlimit = b.n"): a syntax
// error (42601) where PostgreSQL answers.
func TestRedTeam38bReservedLabelInOn(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	z, w := rt38bTables(t)
	for _, q := range []string{
		"SELECT count(*) FROM %[1]s WHERE EXISTS (SELECT 1 FROM {z} a JOIN {z} b ON a.limit = b.n AND tag = 't1')",
		"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON a.n = b.order AND tag = 't1') FROM %[1]s ORDER BY id",
		"SELECT id, (SELECT count(*) FROM {z} a JOIN {z} b ON tag = 't1' AND a.n = b.limit) FROM %[1]s ORDER BY id",
	} {
		rt38bRun(t, f, z, w, q, false)
	}
}
