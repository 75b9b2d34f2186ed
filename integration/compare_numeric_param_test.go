package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestNumericParamComparedExactly: a parameter compared with an encrypted
// numeric(p,s) column is compared exactly, as PostgreSQL compares it: a
// value beyond the column's scale or precision equals no stored value,
// although written into the column it would be rounded to one. Found by
// the transparency check (healthcare_expenses = $1 with '5982.124'
// counted one patient through phiguard and none in PostgreSQL).
func TestNumericParamComparedExactly(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "numparam",
		twinColumn{"id", "int", ""},
		twinColumn{"amount", "numeric(14,2)", "{mode: deterministic, key: numparam, type: \"numeric(14,2)\"}"})
	tw.exec(t, "INSERT INTO %s (id, amount) VALUES (1, 5982.12), (2, -0.5), (3, 100)", pgx.QueryExecModeSimpleProtocol)
	ctx := testContext(t)
	// Strings go as text; float64s as pgx's binary numeric.
	for _, v := range []any{"5982.124", "5982.12", "5982.120", "-0.50", "-0.501", "100", "1e2", "100.001", "1000000000000",
		5982.124, 5982.12, -0.501, 100.0, 1e12} {
		var want, got int
		q := "SELECT count(*) FROM %s WHERE amount = $1"
		if err := tw.dir.QueryRow(ctx, fmt.Sprintf(q, tw.plain), pgx.QueryExecModeCacheStatement, v).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if err := tw.via.QueryRow(ctx, fmt.Sprintf(q, tw.enc), pgx.QueryExecModeCacheStatement, v).Scan(&got); err != nil {
			t.Fatalf("%v through phiguard: %v", v, err)
		}
		if got != want {
			t.Errorf("amount = $1 with %#v: %d rows through phiguard, %d directly", v, got, want)
		}
	}
}
