package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam10RenameProtected: the policy names protected columns and
// tables, and a RENAME through phiguard ran. ALTER TABLE ... RENAME
// COLUMN name TO n2; INSERT ... (n2) VALUES ('RT10Bob') stored the name
// in clear among the cells (n2 is no protected column), and renaming it
// back left plaintext in the encrypted column; a table renamed took
// plaintext the same way. Renaming a protected column or table, another
// to its name, or moving it to another schema is refused (0A000) and
// nothing is stored in clear.
func TestRedTeam10RenameProtected(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt10rn",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt10-pii, type: text}"},
		twinColumn{"note", "text", ""})
	if _, err := superuser(t).Exec(ctx, "CREATE SCHEMA IF NOT EXISTS rt10s; GRANT ALL ON SCHEMA rt10s TO "+appUser+"; ALTER TABLE "+tw.enc+" OWNER TO "+appUser); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ALTER TABLE %[1]s RENAME COLUMN name TO n2; INSERT INTO %[1]s (id, n2) VALUES (2, 'RT10Bob'); ALTER TABLE %[1]s RENAME COLUMN n2 TO name",
		"ALTER TABLE %[1]s RENAME name TO n2",
		"ALTER TABLE %[1]s RENAME COLUMN note TO name",
		"ALTER TABLE %[1]s RENAME TO %[1]s_x; INSERT INTO %[1]s_x (id, name) VALUES (3, 'RT10Carl'); ALTER TABLE %[1]s_x RENAME TO %[1]s",
		"ALTER TABLE IF EXISTS public.%[1]s RENAME TO other_%[1]s",
		"ALTER TABLE %[1]s SET SCHEMA rt10s",
	} {
		for _, mode := range bothModes {
			_, err := tw.via.Exec(ctx, fmt.Sprintf(q, tw.enc), mode)
			wantCode(t, err, "0A000", "public."+tw.enc)
		}
	}
	var stored string
	if err := tw.dir.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(string_agg(name, ','), '') FROM %s", tw.enc)).Scan(&stored); err != nil || strings.Contains(stored, "RT10") {
		t.Errorf("stored in clear: %q, %v", stored, err)
	}
	// Other DDL still runs: a plain column renamed to a name the policy
	// does not protect.
	if _, err := tw.via.Exec(ctx, "ALTER TABLE "+tw.enc+" RENAME COLUMN note TO remark", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Errorf("renaming a plain column: %v", err)
	}
}
