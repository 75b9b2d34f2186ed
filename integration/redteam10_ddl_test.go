package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam10DDLOverCells: DDL on a protected table ran unless it gave
// a protected column a default, so the database was made to evaluate
// expressions over the cells: CHECK (name <> 'Forbidden') let 'Forbidden'
// in and CHECK (length(ssn) = 11) kept every SSN out (23514 where the
// plaintext table takes the row), a generated column upper(name) held
// upper-cased ciphertext, UNIQUE (name) took two equal names, and the
// constants ('Forbidden', an SSN in a partial index's WHERE) were stored
// in clear in the catalog. Each is refused (0A000, naming the column) and
// leaves nothing behind; DDL that does not read a protected column, or
// only indexes a column itself, still runs.
func TestRedTeam10DDLOverCells(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt10ddl",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt10-pii, type: text}"},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt10-ssn, type: text}"},
		twinColumn{"other", "text", ""})
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" OWNER TO "+appUser); err != nil {
		t.Fatal(err)
	}
	other := uniqueName("rt10ref")
	if _, err := tw.via.Exec(ctx, "CREATE TABLE "+other+" (k text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ddl, column string }{
		{"ALTER TABLE %[1]s ADD CONSTRAINT rt10c1 CHECK (name <> 'Forbidden')", "name"},
		{"ALTER TABLE %[1]s ADD CHECK (length(ssn) = 11) NOT VALID", "ssn"},
		{"ALTER TABLE %[1]s ADD CONSTRAINT rt10c3 CHECK (ssn IS NOT NULL OR %[1]s.name IS NULL)", "ssn"},
		{"ALTER TABLE %[1]s ADD UNIQUE (other, name)", "name"},
		{"ALTER TABLE %[1]s ADD COLUMN g text GENERATED ALWAYS AS (upper(name)) STORED", "name"},
		{"ALTER TABLE %[1]s ADD COLUMN h text CHECK (h <> ssn)", "ssn"},
		{"ALTER TABLE %[1]s ADD EXCLUDE USING btree (name WITH =)", "name"},
		{"ALTER TABLE %[1]s ADD FOREIGN KEY (name) REFERENCES %[2]s (k)", "name"},
		{"CREATE INDEX ON %[1]s (id) WHERE ssn = '999-99-9999'", "ssn"},
		{"CREATE INDEX ON %[1]s (lower(name))", "name"},
		{"CREATE UNIQUE INDEX ON %[1]s (name)", "name"},
		{"CREATE POLICY rt10p ON %[1]s USING (name <> 'Forbidden')", "name"},
		{"ALTER TABLE %[1]s ADD CONSTRAINT rt10c4 CHECK (other <> ''), ADD CONSTRAINT rt10c5 CHECK (name <> other)", "name"},
	} {
		for _, mode := range bothModes {
			_, err := tw.via.Exec(ctx, fmt.Sprintf(c.ddl, tw.enc, other), mode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "public."+tw.enc+"."+c.column) {
				t.Errorf("%s (%v): %v, want 0A000 naming column %s", c.ddl, mode, err, c.column)
			}
		}
	}
	var defs string
	if err := tw.dir.QueryRow(ctx, `SELECT coalesce(string_agg(pg_get_constraintdef(oid), ' '), '') || coalesce((SELECT string_agg(indexdef, ' ') FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%WHERE%'), '')
FROM pg_constraint WHERE conrelid = $1::regclass AND contype <> 'p'`, tw.enc).Scan(&defs); err != nil || defs != "" {
		t.Errorf("left in the catalog: %q, %v", defs, err)
	}
	// What does not read a protected column, or indexes one as it is,
	// still runs.
	for _, ddl := range []string{
		"ALTER TABLE %[1]s ADD CONSTRAINT rt10ok CHECK (other <> 'x')",
		"CREATE INDEX ON %[1]s (name)",
		"CREATE UNIQUE INDEX ON %[1]s (ssn)",
		"ALTER TABLE %[1]s ADD COLUMN g2 text GENERATED ALWAYS AS (upper(other)) STORED",
	} {
		if _, err := tw.via.Exec(ctx, fmt.Sprintf(ddl, tw.enc), pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Errorf("%s: %v", ddl, err)
		}
	}
	tw.exec(t, "INSERT INTO %s (id, name, ssn, other) VALUES (1, 'Forbidden', '123-45-6789', 'a'), (2, 'Forbidden', '123-45-678', 'b')", pgx.QueryExecModeSimpleProtocol)
}
