package integration

import (
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// requireEnUS skips (fails under CI) when the test cluster has no en_US
// collation.
func requireEnUS(t *testing.T) {
	t.Helper()
	var coll string
	if err := superuser(t).QueryRow(testContext(t), `SELECT coalesce(min(collname), '') FROM pg_collation WHERE collname = 'en_US' AND collprovider = 'c'`).Scan(&coll); err != nil {
		t.Fatal(err)
	}
	if coll == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("the test cluster has no en_US collation: .ci/run installs the locale before initdb")
		}
		t.Skip("no en_US locale on this machine (locale-gen en_US.UTF-8)")
	}
}

// TestRedTeam9CollationChangedUnderRepeatableRead: PostgreSQL takes a
// column's collation from the catalog as it is when the statement is
// parsed, not from the transaction's snapshot. A REPEATABLE READ
// transaction whose snapshot predates another session's ALTER COLUMN ...
// COLLATE (no table rewrite) sorts by the new collation; phiguard's
// collation probe read pg_attribute under that snapshot, saw the old
// collation (en_US, in its catalog: no 40001) and sorted by it. The
// probe reads the column of the table's row type when the statement's
// FROM or WITH names the table (sqlrewrite.collationProbe): the table,
// a subquery over it and a CTE over it, each in its own transaction.
func TestRedTeam9CollationChangedUnderRepeatableRead(t *testing.T) {
	t.Parallel()
	requireEnUS(t)
	f := newSortFixture(t, 80, nil)
	ctx := testContext(t)
	su := superuser(t)
	alter := func(coll string) {
		for i := range 2 {
			if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN name TYPE text COLLATE %s`, f.people[i], coll)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, q := range []string{
		`SELECT id, name FROM %[1]s ORDER BY name, id`,
		`SELECT id, name FROM (SELECT id, name FROM %[1]s) s ORDER BY name, id`,
		`WITH s AS (SELECT id, name FROM %[1]s) SELECT id, name FROM s ORDER BY name, id LIMIT 30`,
		`SELECT id FROM %[1]s WHERE name > 'M' ORDER BY id`,
	} {
		alter(`"en_US"`)
		f.via = f.p.app(t) // the session's catalog knows en_US
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ"); err != nil {
				t.Fatal(err)
			}
			// The transaction's snapshot, taken before the DDL, without a
			// lock on the table (which would make the DDL wait).
			if _, err := rowsRaw(t, conn, `SELECT 1`, pgx.QueryExecModeSimpleProtocol, 0); err != nil {
				t.Fatal(err)
			}
		}
		// Another session: back to C (a collation every session's catalog has).
		alter(`"C"`)
		want, err := rowsRaw(t, f.dir, f.sql(q, 0), pgx.QueryExecModeSimpleProtocol, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rowsRaw(t, f.via, f.sql(q, 1), pgx.QueryExecModeSimpleProtocol, 0)
		if err != nil {
			// A refusal is acceptable; a different answer is not.
			t.Logf("%s: refused: %v", q, err)
		} else if got != want {
			t.Errorf("%s after another session's ALTER COLUMN ... COLLATE in a REPEATABLE READ transaction: through phiguard\n%s\ndirectly\n%s", q, got, want)
		}
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
		}
	}
}
