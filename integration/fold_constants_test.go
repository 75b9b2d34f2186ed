package integration

import (
	"fmt"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

// TestFoldedConstantsAsPostgreSQL (issue 12, "constants are constants"):
// the literals drivers write with a cast or a sign — psycopg2's
// '1980-02-29'::date and -0.05, pgjdbc's '1234.56'::numeric and 42::int4,
// CAST('…' AS date), DATE '…' — and escape and dollar-quoted strings
// (E'…', $$…$$, $x$…$x$) are stored through phiguard in encrypted
// columns, and read back exactly as the same statements leave a plaintext
// table read directly. Both protocols; the cells at rest are ciphertext.
func TestFoldedConstantsAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "fold",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: fold-ssn, type: text}"},
		twinColumn{"born", "date", "{mode: randomized, key: fold-pii, type: date}"},
		twinColumn{"balance", "numeric(12,2)", `{mode: randomized, key: fold-pii, type: "numeric(12,2)"}`},
		twinColumn{"visits", "integer", "{mode: deterministic, key: fold-visits, type: integer}"})
	statements := []string{
		"INSERT INTO %s (id, ssn, born, balance, visits) VALUES (1, '078-05-1120'::text, '1980-02-29'::date, -0.05, -5)",
		"INSERT INTO %s (id, ssn, born, balance, visits) VALUES (2, CAST('078-05-1121' AS text), DATE '1999-12-31', '1234.567'::numeric, 42::int4)",
		"INSERT INTO %s (id, ssn, born, balance, visits) VALUES (3, '078'::text, '2000-01-01' :: pg_catalog.date, - 12.5, 7::integer)",
		"INSERT INTO %s (id, ssn, born, balance, visits) VALUES (4, E'078\\x2d05\\'\\u00e9', $$1999-01-01$$, $x$12.50$x$, E'7')",
		"UPDATE %s SET balance = -1.5, visits = - 3 WHERE id = 3",
		"UPDATE %s SET born = CAST('1970-01-01' AS date) WHERE ssn = '078-05-1121'::text",
	}
	for _, mode := range bothModes {
		tw.clear(t)
		for _, st := range statements {
			tw.exec(t, st, mode)
		}
		tw.same(t, "SELECT id, ssn, born, balance, visits FROM %s WHERE ssn IN ('078-05-1120'::text, '078-05-1121', '078', $$078-05'é$$) ORDER BY id", mode, "folded constants")
		var cell string
		if err := tw.dir.QueryRow(testContext(t), fmt.Sprintf("SELECT born FROM %s WHERE id = 1", tw.enc)).Scan(&cell); err != nil || !keys.IsCell([]byte(cell)) {
			t.Fatalf("at rest: %d chars, %v", len(cell), err)
		}
	}
}
