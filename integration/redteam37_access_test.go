package integration

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam37AccessQualified: behind the access rewriter (row rules
// make each ruled table a subquery under its own alias), a name the
// catalog binds to an inner plain table's column, sent qualified, at a
// level with ruled tables inside and around it: every role counts the
// patients it sees, as PostgreSQL binds the name to the plain table.
func TestRedTeam37AccessQualified(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startProxy(t, accessProxyOptions(t, fx)) // the default: limits.catalog_binds_names on
	schema := uniqueName("rt37_acc")
	tbl := schema + ".plain"
	su := accessSuperuser(t)
	if _, err := su.Exec(testContext(t), fmt.Sprintf("CREATE SCHEMA %[2]s; GRANT USAGE ON SCHEMA %[2]s TO PUBLIC; CREATE TABLE %[1]s (n int, ssn text, first text); INSERT INTO %[1]s VALUES (1, 'zz', 'zz'); GRANT SELECT ON %[1]s TO PUBLIC", tbl, schema)); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"dr_alice", "biller", "researcher"} {
		conn := p.as(t, user)
		var want int
		if err := conn.QueryRow(testContext(t), "SELECT count(*) FROM patients").Scan(&want); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		for _, col := range []string{"ssn", "first"} {
			for _, q := range []string{
				"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM %[1]s WHERE EXISTS (SELECT 1 FROM encounters e WHERE %[2]s = 'zz') OR NOT EXISTS (SELECT 1 FROM encounters))",
				"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM encounters e, %[1]s WHERE %[2]s = 'zz') OR NOT EXISTS (SELECT 1 FROM encounters)",
				"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM %[1]s patients WHERE %[2]s = 'zz')",
				"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM %[1]s care_teams WHERE %[2]s = 'zz')",
				"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM %[1]s ct WHERE %[2]s = 'zz')",
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
