package integration

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam36AccessKnowing: the plan made knowing the catalog behind
// the access rewriter: a role's statement whose subquery's plain table
// has a column named like a restricted, encrypted column of patients.
// PostgreSQL binds the name to the plain table's column: EXISTS holds
// for every patient the role sees.
func TestRedTeam36AccessKnowing(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	opts := accessProxyOptions(t, fx)
	opts.configure = bindNamesByCatalog
	p := startProxy(t, opts)
	// In a schema of its own, out of the suite's public schema, which
	// other access tests list.
	schema := uniqueName("rt36_acc")
	tbl := schema + ".plain"
	su := accessSuperuser(t)
	if _, err := su.Exec(testContext(t), fmt.Sprintf("CREATE SCHEMA %[2]s; GRANT USAGE ON SCHEMA %[2]s TO PUBLIC; CREATE TABLE %[1]s (n int, ssn text, zip text, first text); INSERT INTO %[1]s VALUES (1, 'zz', 'zz', 'zz'); GRANT SELECT ON %[1]s TO PUBLIC", tbl, schema)); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"dr_alice", "biller", "researcher"} {
		conn := p.as(t, user)
		var want int
		if err := conn.QueryRow(testContext(t), "SELECT count(*) FROM patients").Scan(&want); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		for _, col := range []string{"ssn", "zip", "first"} {
			for _, q := range []string{
				"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM %[1]s WHERE %[2]s = 'zz')",
				"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM %[1]s x WHERE %[2]s = 'zz' AND x.n = 1)",
				"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM %[1]s WHERE %[2]s IS NOT NULL AND %[2]s || '' = 'zz')",
			} {
				sql := fmt.Sprintf(q, tbl, col)
				var got int
				err := conn.QueryRow(testContext(t), sql).Scan(&got)
				var pe *pgconn.PgError
				switch {
				case err != nil && errors.As(err, &pe) && pe.Code == "0A000":
					t.Logf("%s: %s: refused: %v", user, sql, err)
				case err != nil || got != want:
					t.Errorf("%s: %s: %d %v, want %d (every patient the role sees)", user, sql, got, err, want)
				}
			}
		}
	}
}
