package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
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

// TestRedTeam11RenameSchemaOfProtected: the policy names a protected
// table with its schema; renaming the schema renames the table's
// qualified name as ALTER TABLE ... SET SCHEMA does, which phiguard
// refuses. ALTER SCHEMA s RENAME TO s2; INSERT INTO s2.t ... stored the
// value in clear, left among the cells once renamed back. Renaming a
// schema holding a protected table, or another schema to such a schema's
// name, is refused (0A000); so is renaming a protected table's
// attributes through ALTER TYPE.
func TestRedTeam11RenameSchemaOfProtected(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	schema, table := uniqueName("rt11sch"), uniqueName("rt11t")
	su := superuser(t)
	if _, err := su.Exec(ctx, fmt.Sprintf("CREATE SCHEMA %[1]s AUTHORIZATION %[3]s; CREATE TABLE %[1]s.%[2]s (id int, name text); ALTER TABLE %[1]s.%[2]s OWNER TO %[3]s",
		schema, table, appUser)); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{quiet: true, protect: protection(t, fmt.Sprintf("version: 1\ntables:\n  %s.%s:\n    columns:\n      name: {mode: randomized, key: rt11sch-k, type: text}\n", schema, table))})
	via := p.app(t)
	for _, q := range []string{
		"ALTER SCHEMA %[1]s RENAME TO %[1]s_x; INSERT INTO %[1]s_x.%[2]s (id, name) VALUES (3, 'RT11Dora'); ALTER SCHEMA %[1]s_x RENAME TO %[1]s",
		"ALTER TYPE %[1]s.%[2]s RENAME ATTRIBUTE name TO n2",
	} {
		for _, mode := range bothModes {
			_, err := via.Exec(ctx, fmt.Sprintf(q, schema, table), mode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, schema) {
				t.Errorf("%v: %s: %v, want 0A000 naming the schema", mode, q, err)
			}
		}
	}
	var stored string
	if err := su.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(string_agg(name, ','), '') FROM %s.%s", schema, table)).Scan(&stored); err != nil || strings.Contains(stored, "RT11") {
		t.Errorf("stored in clear: %q, %v", stored, err)
	}
}
