package integration

import (
	"fmt"
	"strings"
	"testing"
)

// TestRedTeam11RenameThroughAlterIndex: PostgreSQL's ALTER INDEX ...
// RENAME renames any relation (RangeVarCallbackForAlterRelation lets a
// RenameStmt through whatever its object type), so ALTER INDEX on a
// protected table renamed it as ALTER TABLE does, which phiguard refuses
// (red team 10): an INSERT under the new name stored the value in clear,
// left among the cells once renamed back. It is refused (0A000) too.
func TestRedTeam11RenameThroughAlterIndex(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt11rn",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt11-pii, type: text}"})
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" OWNER TO "+appUser); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ALTER INDEX %[1]s RENAME TO %[1]s_x; INSERT INTO %[1]s_x (id, name) VALUES (3, 'RT11Carl'); ALTER INDEX %[1]s_x RENAME TO %[1]s",
		"ALTER INDEX IF EXISTS public.%[1]s RENAME TO other_%[1]s",
	} {
		for _, mode := range bothModes {
			_, err := tw.via.Exec(ctx, fmt.Sprintf(q, tw.enc), mode)
			wantCode(t, err, "0A000", "public."+tw.enc)
		}
	}
	var stored string
	if err := tw.dir.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(string_agg(name, ','), '') FROM %s", tw.enc)).Scan(&stored); err != nil || strings.Contains(stored, "RT11") {
		t.Errorf("stored in clear: %q, %v", stored, err)
	}
}
