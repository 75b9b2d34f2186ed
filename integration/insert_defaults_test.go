package integration

import (
	"fmt"
	"strings"
	"testing"

	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestOmittedEncryptedColumnWithDefault: an INSERT that leaves out an
// encrypted column with a default (its column list omits it, or DEFAULT
// VALUES) would store the default in plaintext: refused with 0A000, as an
// explicit DEFAULT is. Without a default the column becomes NULL and the
// INSERT runs.
func TestOmittedEncryptedColumnWithDefault(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("omitted")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(
		"CREATE TABLE %s (id serial PRIMARY KEY, note text DEFAULT 'plaintext default', ssn text); GRANT ALL ON %s TO %s; GRANT ALL ON SEQUENCE %s_id_seq TO %s",
		table, table, appUser, table, appUser)); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      note: {mode: randomized,    key: omitted-pii, type: text}
      ssn:  {mode: deterministic, key: omitted-ssn, type: text}
`, table))})
	conn := p.app(t)
	for _, sql := range []string{
		"INSERT INTO %s (ssn) VALUES ('078-05-1120')",
		"INSERT INTO %s DEFAULT VALUES",
		"INSERT INTO %s (id) VALUES (DEFAULT)",
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			_, err := conn.Exec(ctx, fmt.Sprintf(sql, table), mode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "0A000" {
				t.Errorf("%s (%v): %v, want 0A000", fmt.Sprintf(sql, table), mode, err)
			}
		}
	}
	_, err := conn.PgConn().CopyFrom(ctx, strings.NewReader("078-05-1121\n"), "COPY "+table+" (ssn) FROM STDIN")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" {
		t.Errorf("COPY leaving out the column with a default: %v, want 0A000", err)
	}
	var n int
	if err := direct(t).QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE note = 'plaintext default'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows hold the default in plaintext (%v)", n, err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (note) VALUES ('x')"); err != nil {
		t.Fatalf("ssn has no default, so leaving it out is NULL: %v", err)
	}
}
