package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestEscapeAndDollarStrings: E'…' strings (psycopg 3's client-side
// binding and libpq's PQescapeLiteral write a string holding a backslash
// so) and dollar-quoted strings, written into encrypted columns and
// compared with a deterministic one, are read as PostgreSQL reads them:
// the same rows as the plaintext twin, in both protocols. A U&'…' string
// is still refused.
func TestEscapeAndDollarStrings(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "estr",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: estr-ssn, type: text}"},
		twinColumn{"name", "text", "{mode: randomized, key: estr-pii, type: text}"},
		twinColumn{"born", "date", "{mode: randomized, key: estr-pii, type: date}"})
	statements := []string{
		`INSERT INTO %s (id, ssn, name, born) VALUES (1, E'078-05-1120', E'O''Brien \\ "Zo\u00eb" \x41\n', E'1980-02-29')`,
		`INSERT INTO %s (id, ssn, name, born) VALUES (2, $$078-05-1121$$, $q$it's $$ \ raw$q$, $$2000-01-01$$::date)`,
		`INSERT INTO %s (id, ssn, name) VALUES (3, e'078\-05\-1122', E'tab\there')`,
		`UPDATE %s SET name = E'new\\name' WHERE ssn = E'078-05-\061121'`,
	}
	for _, mode := range bothModes {
		tw.clear(t)
		for _, st := range statements {
			tw.exec(t, st, mode)
		}
		tw.same(t, "SELECT id, ssn, name, born FROM %s ORDER BY id", mode, "escape strings")
		tw.same(t, `SELECT id FROM %s WHERE ssn IN (E'078-05-1120', $$078-05-1122$$) ORDER BY id`, mode, "compared escape strings")
	}
	_, err := tw.via.Exec(testContext(t), "INSERT INTO "+tw.enc+` (id, name) VALUES (9, U&'d\0061t')`, pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "0A000")
}
