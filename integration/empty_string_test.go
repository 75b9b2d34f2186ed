package integration

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/keys"
)

// TestEmptyStringAsPostgreSQL: an empty string written to an encrypted
// text or varchar column, as a literal or a parameter, reads back as an
// empty string and not as NULL (Django and SQLAlchemy write an empty string for a blank
// field; the ORM workload found it read back as None), and is ciphertext
// at rest like any other value. COPY TO writes it as an empty field, not \N.
func TestEmptyStringAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "empty",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"notes", "text", "{mode: randomized, key: empty-pii, type: text}"},
		twinColumn{"code", "varchar(10)", "{mode: deterministic, key: empty-code, type: varchar(10)}"})
	for _, mode := range bothModes {
		tw.clear(t)
		tw.exec(t, "INSERT INTO %s (id, notes, code) VALUES (1, '', '')", mode)
		tw.exec(t, "INSERT INTO %s (id, notes, code) VALUES ($1, $2, $3)", mode, 2, "", "")
		tw.exec(t, "INSERT INTO %s (id, notes, code) VALUES (3, NULL, NULL)", mode)
		tw.exec(t, "UPDATE %s SET notes = '' WHERE id = 3", mode)
		tw.exec(t, "INSERT INTO %s (id, notes, code) VALUES (4, 'x', '') RETURNING id", mode)
		tw.exec(t, `INSERT INTO %s ("id", "notes", "code") VALUES (5, '', 'x') RETURNING "id"`, mode)
		tw.same(t, "SELECT id, notes IS NULL, notes, code IS NULL, code FROM %s ORDER BY id", mode, "empty strings")
		tw.same(t, "SELECT id FROM %s WHERE code = '' ORDER BY id", mode, "equality with an empty string")
		for _, read := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
			var n int64
			if err := tw.via.QueryRow(testContext(t), fmt.Sprintf("SELECT count(*) FROM %s WHERE code = $1", tw.enc), read, "").Scan(&n); err != nil || n != 3 {
				t.Fatalf("%v: code = '' as a parameter: %d rows, %v", read, n, err)
			}
		}
		var copied [2]bytes.Buffer
		for i, side := range []struct {
			conn  *pgx.Conn
			table string
		}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
			if _, err := side.conn.PgConn().CopyTo(testContext(t), &copied[i], fmt.Sprintf("COPY %s (id, notes, code) TO STDOUT", side.table)); err != nil {
				t.Fatalf("COPY TO: %v", err)
			}
		}
		if copied[0].String() != copied[1].String() {
			t.Fatalf("COPY TO through phiguard\n%s\ndirectly\n%s", copied[1].String(), copied[0].String())
		}
		rows, err := tw.dir.Query(testContext(t), fmt.Sprintf("SELECT notes FROM %s WHERE notes IS NOT NULL", tw.enc))
		if err != nil {
			t.Fatal(err)
		}
		cells, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(cells) != 5 {
			t.Fatalf("at rest: %d cells, %v", len(cells), err)
		}
		for _, c := range cells {
			if !keys.IsCell([]byte(c)) {
				t.Fatalf("at rest: %q is not a cell", c)
			}
		}
	}
}
