package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam13PortalReuse: today's hot path reuses the unnamed portal's
// entry at each BindComplete and interns Bind names. One pipeline (one
// Sync) alternates, three rounds over, statements with a proxy-side OR
// tree, a plain one, a sorted NOT with SELECT *, a HAVING over counts,
// a deterministic/numeric OR and a key lookup, all on the unnamed
// portal: a portal's plan, filters, hidden columns or held rows leaking
// into the next Bind of the name would show as other rows or columns
// than the plaintext twin's.
func TestRedTeam13PortalReuse(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	qs := []struct {
		sql  string
		args []any
	}{
		{"SELECT id, name FROM %[1]s WHERE name = $1 OR grp = $2", []any{"Smith", 1}},
		{"SELECT id, grp FROM %[1]s WHERE grp = $1", []any{2}},
		{"SELECT * FROM %[1]s WHERE NOT (born < $1) ORDER BY id", []any{"1970-01-01"}},
		{"SELECT name, count(*) FROM %[1]s GROUP BY name HAVING count(*) > $1 OR name IS NULL", []any{2}},
		{"SELECT id, tag FROM %[1]s WHERE tag = $1 OR score > $2", []any{"t1", "50"}},
		{"SELECT id FROM %[1]s WHERE id = $1", []any{3}},
	}
	{
		var res [2][]string
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			b := &pgx.Batch{}
			for round := 0; round < 3; round++ {
				for _, q := range qs {
					i := len(b.QueuedQueries)
					b.Queue(f.sql(q.sql, side), q.args...).Query(func(rows pgx.Rows) error {
						var lines []string
						for rows.Next() {
							vals, err := rows.Values()
							if err != nil {
								return err
							}
							lines = append(lines, fmt.Sprint(vals))
						}
						res[side] = append(res[side], fmt.Sprintf("%d: %d cols %s", i, len(rows.FieldDescriptions()), sortedLines(strings.Join(lines, "\n"))))
						return rows.Err()
					})
				}
			}
			if err := conn.SendBatch(ctx, b).Close(); err != nil {
				t.Fatalf("side %d: %v", side, err)
			}
		}
		for i := range res[0] {
			if i >= len(res[1]) || res[0][i] != res[1][i] {
				t.Errorf("directly %s\nthrough phiguard %v", res[0][i], res[1][i:min(i+1, len(res[1]))])
			}
		}
		if len(res[0]) != 3*len(qs) || len(res[1]) != len(res[0]) {
			t.Fatalf("%d and %d results of %d", len(res[0]), len(res[1]), 3*len(qs))
		}
		if rows := strings.Count(strings.Join(res[0], "\n"), "["); rows < 3*20 {
			t.Fatalf("only %d rows in the pipeline's answers", rows)
		}
	}
}
