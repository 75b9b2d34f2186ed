package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestBulkUpdateCastCase (issue 12): Django's bulk_update sets each
// column to CAST(CASE WHEN id = … THEN value … ELSE NULL END AS the
// column's type). Through phiguard each THEN value is encrypted and the
// CAST cut; the rows read back as the same statement leaves a plaintext
// table, in both protocols, with literals and parameters — an overlong
// string truncated to varchar(5) as the explicit cast truncates it, a
// numeric rounded to the column's scale — and the cells at rest are
// ciphertext.
func TestBulkUpdateCastCase(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "fcase",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"name", "varchar(5)", "{mode: randomized, key: fcase-k, type: varchar(5)}"},
		twinColumn{"born", "date", "{mode: randomized, key: fcase-k, type: date}"},
		twinColumn{"balance", "numeric(12,2)", `{mode: randomized, key: fcase-k, type: "numeric(12,2)"}`})
	const bulk = `UPDATE %s SET "name" = CAST(CASE WHEN ("id" = 1) THEN 'Annabelle' WHEN ("id" = 2) THEN 'Bo' ELSE NULL END AS varchar(5)),
 "born" = CAST(CASE WHEN ("id" = 1) THEN '1999-01-01'::date WHEN ("id" = 2) THEN '2000-01-02'::date ELSE NULL END AS date),
 "balance" = CAST(CASE WHEN ("id" = 1) THEN  -1.555 WHEN ("id" = 2) THEN 2.5 ELSE NULL END AS numeric(12, 2)) WHERE "id" IN (1, 2)`
	const bulkParams = `UPDATE %s SET "name" = CAST(CASE WHEN ("id" = $1) THEN $2 WHEN ("id" = $3) THEN $4 ELSE NULL END AS varchar(5)) WHERE "id" IN ($1, $3)`
	for _, mode := range bothModes {
		tw.clear(t)
		tw.exec(t, "INSERT INTO %s (id, name) VALUES (1, 'x'), (2, 'y'), (3, 'z')", mode)
		tw.exec(t, bulk, mode)
		tw.same(t, "SELECT id, name, born, balance FROM %s ORDER BY id", mode, "bulk_update with literals")
		if mode != pgx.QueryExecModeSimpleProtocol {
			tw.exec(t, bulkParams, mode, 2, "Christopher", 3, "Di")
			tw.same(t, "SELECT id, name FROM %s ORDER BY id", mode, "bulk_update with parameters")
		}
		var plain int
		if err := tw.dir.QueryRow(testContext(t), "SELECT count(*) FROM "+tw.enc+" WHERE name NOT LIKE '~phg~%' OR born NOT LIKE '~phg~%'").Scan(&plain); err != nil || plain != 0 {
			t.Fatalf("%v: %d rows with a plaintext cell, %v", mode, plain, err)
		}
	}
}
