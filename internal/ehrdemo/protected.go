package ehrdemo

import (
	"context"
	_ "embed"

	"github.com/jackc/pgx/v5"
)

//go:embed demo-policy.yml
var demoPolicy []byte

//go:embed demo.sql
var demoSQL string

// DemoPolicy returns the policy `phiguard demo` runs (demo-policy.yml, the
// same file as examples/demo-policy.yml). The caller may modify the slice.
func DemoPolicy() []byte {
	return append([]byte(nil), demoPolicy...)
}

// DemoUsers are the database users DemoPolicy binds to roles, and the
// users demo.sql grants to: two clinicians, a biller, a researcher and the
// administrator (who owns the database).
func DemoUsers() []string {
	return []string{"dr_alice", "dr_bob", "biller", "researcher", "admin_ann"}
}

// DemoSQL returns demo.sql: the care-team table the clinician role's row
// rules read, its rows, and the grants of DemoUsers. Run it by the owner of
// the tables, after the patients are loaded.
func DemoSQL() string {
	return demoSQL
}

// protectedTables are the demo tables with a column examples/policy.yml
// (and DemoPolicy) encrypts; they must be loaded through phiguard.
var protectedTables = map[string]bool{"patients": true}

// ProtectedSchema returns Schema with the change `phiguard encrypt` makes
// for the example policy: the protected date column patients.birthdate
// holds text cells (phiguard still presents it as a date).
func ProtectedSchema() string {
	return schemaSQL + "\nALTER TABLE public.patients ALTER COLUMN birthdate TYPE text;\n"
}

// LoadProtected creates ProtectedSchema over direct and fills it so that
// the example policy's columns are ciphertext at rest: the patients go in
// over via, a connection through a phiguard that encrypts them; every other
// table (no protected column) goes straight in over direct. Both
// connections must reach the same database. Unlike Load it is not one
// transaction (two sessions); on error throw the database away.
func LoadProtected(ctx context.Context, direct, via *pgx.Conn) (Counts, error) {
	return fill(ctx, ProtectedSchema(), direct, func(table string) *pgx.Conn {
		if protectedTables[table] {
			return via
		}
		return direct
	})
}
