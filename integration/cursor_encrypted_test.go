package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCursorOverEncryptedAsPostgreSQL: a SQL cursor declared over a table
// with encrypted columns (psycopg2's named cursors: Django's iterator(),
// SQLAlchemy's stream_results; both were refused with 0A000 "cursor
// statement") is read by FETCH with its values decrypted and presented as
// their types, text and binary cursors, equality on the deterministic
// column encrypted in the DECLARE, in both protocols, and a FETCH prepared
// for one cursor executed on another of other columns; a DECLARE of a
// construct the column cannot run stays refused.
func TestCursorOverEncryptedAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "cursor",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: cursor-ssn, type: text}"},
		twinColumn{"name", "text", "{mode: randomized, key: cursor-pii, type: text}"},
		twinColumn{"born", "date", "{mode: randomized, key: cursor-pii, type: date}"},
		twinColumn{"balance", "numeric(12,2)", `{mode: randomized, key: cursor-pii, type: "numeric(12,2)"}`})
	tw.exec(t, `INSERT INTO %s (id, ssn, name, born, balance) VALUES
		(1, '111', 'Ann', '1980-01-01', 12.5), (2, '222', '', NULL, -0.05), (3, '111', 'Bo', '2000-02-29', NULL),
		(4, NULL, NULL, '1815-12-10', 0)`, pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		for _, declare := range []string{
			"DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT id, ssn, name, born, balance FROM %s ORDER BY id",
			"DECLARE c CURSOR WITH HOLD FOR SELECT id, name, born FROM %s WHERE ssn = '111' ORDER BY id",
			"DECLARE c BINARY CURSOR WITH HOLD FOR SELECT id, ssn, born, balance FROM %s WHERE ssn IN ('111', '222') ORDER BY id",
		} {
			tw.exec(t, declare, mode)
			// The same FETCH texts after each DECLARE: in the extended
			// protocol pgx executes them as statements prepared for the
			// first cursor, whose columns differ.
			for _, fetch := range []string{"FETCH FORWARD 2 FROM c", "FETCH ALL FROM c"} {
				want := tableText(t, tw.dir, fetch, mode)
				if got := tableText(t, tw.via, fetch, mode); got != want {
					t.Fatalf("%v: %s after %s: through phiguard\n%s\ndirectly\n%s", mode, fetch, declare, got, want)
				}
			}
			tw.both(t, "CLOSE c")
		}
		_, err := tw.via.Exec(testContext(t), fmt.Sprintf("DECLARE d CURSOR WITH HOLD FOR SELECT id FROM %s WHERE name LIKE 'A%%'", tw.enc), mode)
		wantPgError(t, err, "0A000")
	}
}
