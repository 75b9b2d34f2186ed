package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam11InsertSelectShapes: an INSERT ... SELECT leaving out an
// encrypted column gets it appended (NULL carrying the default guard)
// after the last select-list entry. Select lists that end oddly must
// run and store what they store without phiguard.
func TestRedTeam11InsertSelectShapes(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt11ins",
		twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: randomized, key: rt11ins-k, type: text}"})
	ctx := testContext(t)
	for i, q := range []string{
		"INSERT INTO %[1]s (id, note) SELECT 1, 'a' IS DISTINCT FROM 'b'",
		"INSERT INTO %[1]s (id, note) SELECT 2, CASE WHEN 1 IS NOT DISTINCT FROM 2 THEN 'y' ELSE 'n' END",
		"INSERT INTO %[1]s (id, note) SELECT 3, 'c' AS from",
		"INSERT INTO %[1]s (id, note) (SELECT 4, 'd')",
		"INSERT INTO %[1]s (id, note) SELECT 5, v.n FROM (VALUES ('e')) AS v (n)",
		"INSERT INTO %[1]s (id, note) SELECT 6, substring('abc' FROM 2) /* c */ -- x\n",
		"INSERT INTO %[1]s (id, note) SELECT 7, trim(both FROM ' x ') ON CONFLICT DO NOTHING",
		"INSERT INTO %[1]s (id, note) SELECT 8, 'f' UNION ALL SELECT 9, 'g'",
		"INSERT INTO %[1]s (id, note) SELECT id + 100, note FROM %[1]s WHERE id < 3",
		"INSERT INTO %[1]s (id) SELECT * FROM (SELECT 10) s",
		"INSERT INTO %[1]s (id, note) SELECT 11, 'h' COLLATE \"C\"",
		"INSERT INTO %[1]s (id, note) SELECT 12, x FROM (SELECT 'i' AS x) s FOR UPDATE",
		"INSERT INTO %[1]s (id, note) SELECT 13, 'j'::text AS \"order\"",
		"INSERT INTO %[1]s (id, note) SELECT 14, 'k' WHERE 1 IS DISTINCT FROM 2",
		"INSERT INTO %[1]s (id, note) SELECT 15, ARRAY['l'][1] IS DISTINCT FROM NULL",
	} {
		for _, mode := range bothModes {
			_, werr := tw.dir.Exec(ctx, fmt.Sprintf(q, tw.plain), mode)
			_, gerr := tw.via.Exec(ctx, fmt.Sprintf(q, tw.enc), mode)
			if (werr == nil) != (gerr == nil) {
				t.Errorf("%d (%v) %s: directly %v, through phiguard %v", i, mode, q, werr, gerr)
			}
		}
	}
	tw.same(t, "SELECT id, note, ssn FROM %s ORDER BY id, note", pgx.QueryExecModeSimpleProtocol, "rows stored")
}
