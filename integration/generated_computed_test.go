package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The shapes of a generated column computed from an encrypted column
// (guard/catalog_computed.go, docs/catalog.md): added by another session
// after this one read its catalog, or before, each statement reading it
// answers as the plaintext database does or is refused by phiguard.

// genShapes are statements over enc (rows (1, 'secret') and (2, 'ab'))
// and its generated column g = length(s), and what PostgreSQL answers
// over the plaintext.
var genShapes = []struct{ q, want string }{
	{"SELECT id FROM %[1]s WHERE %[2]s = 6", "1\n"},
	{"SELECT %[2]s FROM %[1]s WHERE id = 1", "6\n"},
	{"SELECT * FROM %[1]s WHERE id = 1", "1 | secret | 6\n"},
	{"SELECT t.* FROM %[1]s t WHERE id = 2", "2 | ab | 2\n"},
	{"SELECT id FROM %[1]s ORDER BY %[2]s DESC, id LIMIT 1", "1\n"},
	{"SELECT count(*) FROM %[1]s WHERE %[2]s > 5", "1\n"},
	{"SELECT id FROM %[1]s GROUP BY id, %[2]s HAVING %[2]s < 3", "2\n"},
	{"SELECT id FROM %[1]s JOIN (SELECT 6 AS %[2]s) x USING (%[2]s)", "1\n"},
	{"SELECT id FROM %[1]s NATURAL JOIN (SELECT 1 AS id, 6 AS %[2]s) x", "1\n"},
	{"SELECT k FROM (SELECT 1 AS k) o WHERE EXISTS (SELECT FROM %[1]s WHERE %[2]s = 6)", "1\n"},
	{"WITH w AS (SELECT %[2]s + 1 AS k FROM %[1]s WHERE id = 1) SELECT k FROM w", "7\n"},
	{"UPDATE %[1]s SET id = id WHERE id = 1 RETURNING *", "1 | secret | 6\n"},
	{"UPDATE %[1]s SET id = id WHERE %[2]s = 65 RETURNING id", ""},
	{"DELETE FROM %[1]s WHERE %[2]s = 65 RETURNING id", ""},
}

// genCheck runs the shapes through app and fails on a different answer;
// the rows must be there after (a DELETE on the ciphertext's length
// would take one).
func genCheck(t *testing.T, app, su *pgx.Conn, enc, g string, mode pgx.QueryExecMode) {
	t.Helper()
	for _, c := range genShapes {
		rt31cAnswer(t, app, fmt.Sprintf(c.q, enc, g), c.want, mode)
	}
	var n int
	if err := su.QueryRow(testContext(t), "SELECT count(*) FROM "+enc).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows left: %d, %v; want 2", n, err)
	}
}

// TestGeneratedColumnComputedShapes: a generated column over an encrypted
// column added by another session after the catalog read (first met
// inside a pipeline, where the catalog cannot be read, then in each
// protocol), one added before the session began, and a view another
// session makes over it.
func TestGeneratedColumnComputedShapes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	g := enc + "_g"
	rt31cExec(t, app, "INSERT INTO "+enc+" (id, s) VALUES (2, 'ab')", "SELECT 1")
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD COLUMN "+g+" int GENERATED ALWAYS AS (length(s)) STORED")
	// In a pipeline, after its first message: refused with 40001, the
	// catalog is read at the next segment; run again, refused 0A000.
	for i, code := range []string{"40001", "0A000"} {
		b := &pgx.Batch{}
		b.Queue(fmt.Sprintf("SELECT %d AS first", i))
		var got int
		b.Queue("SELECT id FROM " + enc + " WHERE " + g + " = 6").QueryRow(func(r pgx.Row) error { return r.Scan(&got) })
		err := app.SendBatch(ctx, b).Close()
		if err == nil && got != 1 {
			t.Fatalf("pipeline: got %d where the plaintext database answers 1", got)
		}
		wantPgError(t, err, code)
	}
	for _, mode := range bothModes {
		genCheck(t, app, su, enc, g, mode)
	}
	// A fresh session, whose catalog is read with the column there.
	su2, app2, enc2 := rt31cProxy(t)
	g2 := enc2 + "_g"
	rt31cExec(t, su2, "ALTER TABLE "+enc2+" ADD COLUMN "+g2+" int GENERATED ALWAYS AS (length(s)) STORED")
	rt31cExec(t, app2, "DISCARD PLANS", "INSERT INTO "+enc2+" (id, s) VALUES (2, 'ab')") // the catalog is read again
	for _, mode := range bothModes {
		genCheck(t, app2, su2, enc2, g2, mode)
	}
	// A view over the generated column, made since: refused as a view
	// that reads an encrypted column, or answered.
	v := enc + "_gv"
	rt31cExec(t, su, "CREATE VIEW "+v+" AS SELECT id, "+g+" AS k FROM "+enc, "GRANT SELECT ON "+v+" TO "+appUser)
	for _, mode := range bothModes {
		rt31cAnswer(t, app, "SELECT k FROM "+v+" WHERE id = 1", "6\n", mode)
	}
	// A plain generated column, and a statement naming a protected
	// table with a column name the database does not have, still run.
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD COLUMN "+g+"_p int GENERATED ALWAYS AS (id * 2) STORED")
	for _, mode := range bothModes {
		if got, err := rt4Rows(app, "SELECT "+g+"_p FROM "+enc+" WHERE id = 2", mode); err != nil || got != "4\n" {
			t.Fatalf("plain generated column: %q, %v", got, err)
		}
	}
	_, err := rt4Rows(app, "SELECT id FROM "+enc+" WHERE nosuchcolumn = 1", pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "42703")
}
