package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam4CopyGeneratedColumn: COPY without a column list reads and
// writes every column but the generated ones; phiguard, counting them,
// failed both ways with 22P04 where PostgreSQL copied.
func TestRedTeam4CopyGeneratedColumn(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt4gen",
		twinColumn{"id", "int", ""},
		twinColumn{"g", "int GENERATED ALWAYS AS (id * 2) STORED", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt4gen-k, type: text}"})
	for _, side := range []struct {
		conn  *pgx.Conn
		table string
	}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
		if _, err := side.conn.PgConn().CopyFrom(ctx, strings.NewReader("1\t078-05-1120\n2\t\\N\n"), "COPY "+side.table+" FROM STDIN"); err != nil {
			t.Fatalf("COPY FROM into %s: %v", side.table, err)
		}
		var out strings.Builder
		if _, err := side.conn.PgConn().CopyTo(ctx, &out, "COPY "+side.table+" TO STDOUT"); err != nil {
			t.Fatalf("COPY TO from %s: %v", side.table, err)
		}
		if out.String() != "1\t078-05-1120\n2\t\\N\n" {
			t.Errorf("COPY TO from %s: %q", side.table, out.String())
		}
	}
	tw.same(t, "SELECT id, g, ssn FROM %s ORDER BY id", pgx.QueryExecModeSimpleProtocol, "copied around a generated column")
}
