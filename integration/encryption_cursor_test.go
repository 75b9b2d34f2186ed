package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestEncryptedCursor: a SQL cursor over encrypted columns (psycopg's
// named cursors declare one and FETCH from it) is planned as its SELECT,
// so a comparison in it is encrypted and its FETCHes, text or binary, WITH
// HOLD or not, read what the same cursor reads on the plaintext table.
func TestEncryptedCursor(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "cursor",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: cursor-ssn, type: text}"},
		twinColumn{"born", "date", "{mode: randomized, key: cursor-pii, type: date}"},
		twinColumn{"visits", "integer", "{mode: randomized, key: cursor-pii, type: integer}"})
	tw.exec(t, "INSERT INTO %s (id, ssn, born, visits) VALUES (1, '078-05-1120', '1980-02-29', -5), (2, '078-05-1120', NULL, 7), (3, '219-09-9999', '2001-01-01', NULL)", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		for _, decl := range []string{
			"DECLARE c CURSOR WITH HOLD FOR SELECT id, ssn, born, visits FROM %s WHERE ssn = '078-05-1120' ORDER BY id",
			"DECLARE c BINARY CURSOR WITH HOLD FOR SELECT id, ssn, born, visits FROM %s ORDER BY id",
		} {
			tw.exec(t, decl, pgx.QueryExecModeSimpleProtocol)
			tw.same(t, "FETCH 1 FROM c -- %s", mode, decl)
			tw.same(t, "FETCH ALL FROM c -- %s", mode, decl)
			tw.both(t, "CLOSE c")
		}
	}
}
