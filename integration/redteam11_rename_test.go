package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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

// TestRedTeam11ChildMadeInSameQuery: a table made an inheritance child
// of a protected table holds rows of the protected table; phiguard
// refuses writes to children it knows from its catalog, read after DDL
// before the next Query or the Parse after the next Sync. Made in the
// same Query as the write (CREATE TABLE ... INHERITS, or ALTER TABLE ...
// INHERIT), or linked in a pipeline before a write to a table the
// catalog knows as plain, the write stored the name in clear among the
// protected table's rows. Such DDL is refused (0A000): CREATE ...
// INHERITS with other statements in one Query, ALTER TABLE ... INHERIT
// or ATTACH PARTITION with a protected table always.
func TestRedTeam11ChildMadeInSameQuery(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt11ch",
		twinColumn{"id", "int", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt11ch-k, type: text}"})
	known := tw.enc + "_k"
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" OWNER TO "+appUser+"; CREATE TABLE "+known+" (id int, name text); ALTER TABLE "+known+" OWNER TO "+appUser); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.via.Exec(ctx, "SELECT count(*) FROM "+known); err != nil { // the catalog knows it
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE %[1]s_c () INHERITS (%[1]s); INSERT INTO %[1]s_c (id, name) VALUES (5, 'RT11Eve')",
		"CREATE TABLE %[1]s_d (id int, name text); ALTER TABLE %[1]s_d INHERIT %[1]s; INSERT INTO %[1]s_d (id, name) VALUES (6, 'RT11Fay')",
		"CREATE TABLE %[1]s_e (id int, name text); INSERT INTO %[1]s_e (id, name) VALUES (7, 'RT11Gus'); ALTER TABLE %[1]s_e INHERIT %[1]s",
		"ALTER TABLE %[1]s_k INHERIT %[1]s",
	} {
		_, err := tw.via.Exec(ctx, fmt.Sprintf(q, tw.enc), pgx.QueryExecModeSimpleProtocol)
		wantCode(t, err, "0A000", "public."+tw.enc)
	}
	// A pipeline: the INSERT is planned before the ALTER runs.
	b := &pgx.Batch{}
	b.Queue("ALTER TABLE " + known + " INHERIT " + tw.enc)
	b.Queue("INSERT INTO "+known+" (id, name) VALUES ($1, $2)", 8, "RT11Hal")
	if err := tw.via.SendBatch(ctx, b).Close(); err == nil {
		t.Errorf("the pipeline ran")
	}
	var stored string
	if err := tw.dir.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(string_agg(name, ','), '') FROM %s", tw.enc)).Scan(&stored); err != nil || strings.Contains(stored, "RT11") {
		t.Errorf("the protected table's rows hold in clear: %q, %v", stored, err)
	}
	// Alone, CREATE TABLE ... INHERITS runs, and a write to the child
	// is then refused (TestRedTeam5PartitionsAndChildren).
	if _, err := tw.via.Exec(ctx, "CREATE TABLE "+tw.enc+"_f () INHERITS ("+tw.enc+")"); err != nil {
		t.Fatal(err)
	}
	_, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+"_f (id, name) VALUES (9, 'RT11Ida')")
	wantCode(t, err, "0A000", "")
}
