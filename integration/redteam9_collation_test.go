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
// collation (en_US, in its catalog: no 40001) and sorted by it.
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
	alter(`"en_US"`)
	f.via = f.p.app(t) // the session's catalog knows en_US
	const q = `SELECT id, name FROM %[1]s ORDER BY name, id`
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
		t.Logf("refused: %v", err)
		return
	}
	if got != want {
		t.Fatalf("ORDER BY after another session's ALTER COLUMN ... COLLATE in a REPEATABLE READ transaction: through phiguard\n%s\ndirectly\n%s", got, want)
	}
}
