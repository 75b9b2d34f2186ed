package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/phiguard/phiguard/keys"
)

// TestFoldedConstantsAsPostgreSQL (issue 12, "constants are constants"):
// the literals drivers write with a cast or a sign — psycopg2's
// '1980-02-29'::date and -0.05, pgjdbc's '1234.56'::numeric and 42::int4,
// CAST('…' AS date), DATE '…' — are stored through phiguard in encrypted
// columns, and read back exactly as the same statements leave a plaintext
// table read directly. Both protocols; the cells at rest are ciphertext.
func TestFoldedConstantsAsPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("fold_plain"), uniqueName("fold_enc")
	su := superuser(t)
	for table, typ := range map[string][2]string{plain: {"date", "numeric(12,2)"}, enc: {"text", "text"}} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, ssn text, born %s, balance %s, visits %s); GRANT ALL ON %s TO %s",
			table, typ[0], typ[1], map[string]string{"date": "integer", "text": "text"}[typ[0]], table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      ssn:     {mode: deterministic, key: fold-ssn, type: text}
      born:    {mode: randomized,    key: fold-pii, type: date}
      balance: {mode: randomized,    key: fold-pii, type: "numeric(12,2)"}
      visits:  {mode: deterministic, key: fold-visits, type: integer}
`, enc))})
	via, direct := p.app(t), direct(t)
	statements := []string{
		"INSERT INTO %s (id, ssn, born, balance, visits) VALUES (1, '078-05-1120'::text, '1980-02-29'::date, -0.05, -5)",
		"INSERT INTO %s (id, ssn, born, balance, visits) VALUES (2, CAST('078-05-1121' AS text), DATE '1999-12-31', '1234.567'::numeric, 42::int4)",
		"INSERT INTO %s (id, ssn, born, balance, visits) VALUES (3, '078'::text, '2000-01-01' :: pg_catalog.date, - 12.5, 7::integer)",
		"UPDATE %s SET balance = -1.5, visits = - 3 WHERE id = 3",
		"UPDATE %s SET born = CAST('1970-01-01' AS date) WHERE ssn = '078-05-1121'::text",
	}
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		for _, table := range []string{plain, enc} {
			if _, err := direct.Exec(ctx, "DELETE FROM "+table); err != nil {
				t.Fatal(err)
			}
		}
		for _, st := range statements {
			if _, err := direct.Exec(ctx, fmt.Sprintf(st, plain), mode); err != nil {
				t.Fatalf("plaintext, %v: %s: %v", mode, st, err)
			}
			if _, err := via.Exec(ctx, fmt.Sprintf(st, enc), mode); err != nil {
				t.Fatalf("through phiguard, %v: %s: %v", mode, st, err)
			}
		}
		const read = "SELECT id, ssn, born, balance, visits FROM %s WHERE ssn IN ('078-05-1120'::text, '078-05-1121', '078') ORDER BY id"
		want := tableText(t, direct, fmt.Sprintf(read, plain), mode)
		got := tableText(t, via, fmt.Sprintf(read, enc), mode)
		if got != want {
			t.Fatalf("run %d (%v): through phiguard\n%s\nplaintext directly\n%s", i, mode, got, want)
		}
		var cell string
		if err := direct.QueryRow(ctx, "SELECT born FROM "+enc+" WHERE id = 1").Scan(&cell); err != nil || !keys.IsCell([]byte(cell)) {
			t.Fatalf("at rest: %d chars, %v", len(cell), err)
		}
	}
}

// tableText is a query's rows as text, one line per row.
func tableText(t *testing.T, conn *pgx.Conn, sql string, mode pgx.QueryExecMode) string {
	t.Helper()
	rows, err := conn.Query(testContext(t), sql, mode, pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals := rows.RawValues()
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.Write(v)
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return b.String()
}
