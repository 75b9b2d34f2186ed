package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam4SettingChangedInTheStatement: extra_float_digits changed by
// the very statement that reads an encrypted double precision column
// (set_config in its select list or WHERE) applies to that statement's
// rows in PostgreSQL; phiguard must print them so, or refuse.
func TestRedTeam4SettingChangedInTheStatement(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt4efd",
		twinColumn{"id", "int", ""},
		twinColumn{"d", "double precision", "{mode: randomized, key: rt4efd-k, type: double precision}"})
	tw.exec(t, "INSERT INTO %s (id, d) VALUES (1, 0.30000000000000004)", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT set_config('extra_float_digits', '0', false), d FROM %s",
			"SELECT d FROM %s WHERE set_config('extra_float_digits', '-3', false) IS NOT NULL",
		} {
			tw.both(t, "SET extra_float_digits = 1")
			rt4SameOrRefused(t, tw, q, mode)
		}
	}
}
