package integration

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestSortEncryptedUnderLocale: an encrypted text column under a libc
// collation other than C (en_US, as an EHR's database most often has) is
// sorted and range-filtered by phiguard as PostgreSQL orders the plaintext
// (internal/pgcollate): same rows, same order, in both protocols. CI
// installs the locale (.ci/run); a machine without it skips.
func TestSortEncryptedUnderLocale(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 200, nil)
	ctx := testContext(t)
	su := superuser(t)
	var coll string
	if err := su.QueryRow(ctx, `SELECT coalesce(min(collname), '') FROM pg_collation WHERE collname = 'en_US' AND collprovider = 'c'`).Scan(&coll); err != nil {
		t.Fatal(err)
	}
	if coll == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("the test cluster has no en_US collation: .ci/run installs the locale before initdb")
		}
		t.Skip("no en_US locale on this machine (locale-gen en_US.UTF-8)")
	}
	for i := range 2 {
		if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN name TYPE text COLLATE "en_US"`, f.people[i])); err != nil {
			t.Fatal(err)
		}
	}
	// The session read its catalog when en_US was no protected column's
	// collation: its first sorted statement is refused (40001), and the
	// catalog read again before the next.
	_, err := rowsRaw(t, f.via, f.sql("SELECT name FROM %[1]s ORDER BY name LIMIT 1", 1), pgx.QueryExecModeSimpleProtocol, 0)
	wantCode(t, err, "40001", "collation of an encrypted text column changed")
	plain, err := rowsRaw(t, f.dir, f.sql("SELECT DISTINCT name FROM %[1]s WHERE name IS NOT NULL ORDER BY name", 0), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Split(plain, "\n")
	names = names[:len(names)-1]
	if slices.IsSorted(names) {
		t.Fatalf("en_US orders the names by bytes (%q): the test proves nothing", names)
	}
	f.same(t, `SELECT id, name FROM %[1]s ORDER BY name, id`)
	f.same(t, `SELECT id, name FROM %[1]s ORDER BY name DESC NULLS LAST, id LIMIT 9 OFFSET 3`)
	f.same(t, `SELECT a.id, b.name FROM %[2]s a JOIN %[1]s b ON b.id = a.person WHERE a.id <= 60 ORDER BY b.name, a.id`)
	f.same(t, `SELECT id, name FROM %[1]s WHERE name >= 'b' ORDER BY id`)
	f.same(t, `SELECT id FROM %[1]s WHERE name BETWEEN 'adams' AND 'Smith' ORDER BY name, id`)
	f.same(t, `SELECT id FROM %[1]s WHERE name < $1 ORDER BY name DESC, id`, "o'neil")
	f.same(t, `SELECT id FROM %[1]s WHERE name = $1 ORDER BY id`, "smith")
	f.same(t, `SELECT id FROM %[1]s WHERE name LIKE 'S%%' ORDER BY name, id`)
	f.same(t, `SELECT name, count(*) FROM %[1]s GROUP BY name ORDER BY name DESC`)
	f.same(t, `SELECT grp, min(name), max(name) FROM %[1]s GROUP BY grp ORDER BY max(name), min(name) DESC, grp`)
}

// rowsAfterCollationDDL runs sql (simple protocol) on a session whose
// catalog predates another session's change of a protected column's
// collation: the first statement that reads the collation is refused
// (40001) and the catalog read again, so it runs it a second time.
func rowsAfterCollationDDL(t *testing.T, conn *pgx.Conn, sql string) (string, error) {
	t.Helper()
	got, err := rowsRaw(t, conn, sql, pgx.QueryExecModeSimpleProtocol, 0)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "40001" && strings.Contains(pe.Message, "collation of an encrypted text column changed") {
		return rowsRaw(t, conn, sql, pgx.QueryExecModeSimpleProtocol, 0)
	}
	return got, err
}
