package search

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Install makes the phiguard schema with CREATE SCHEMA IF NOT EXISTS, so
// a schema of that name made before it by any role with CREATE on the
// database would be taken as phiguard's (TestRedTeam14InstallInSquattedSchema).
// Its owner may drop and replace what is in it: the term functions the
// indexes and the proxy's statements call, and search_objects, whose
// records tell the proxy a column's order terms are current. So install
// refuses a schema, or a relation or function in it, owned by another
// role than the installing one or a superuser.

// foreignOwnedQuery lists the phiguard schema and the objects in it
// whose owner is neither current_user nor a superuser, with the owner.
const foreignOwnedQuery = `WITH ok AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user OR rolsuper),
ns AS (SELECT oid, nspowner FROM pg_catalog.pg_namespace WHERE nspname = $1)
SELECT 'schema ' || $1, pg_catalog.pg_get_userbyid(ns.nspowner) FROM ns WHERE ns.nspowner NOT IN (SELECT oid FROM ok)
UNION ALL
SELECT 'relation ' || c.oid::pg_catalog.regclass::text, pg_catalog.pg_get_userbyid(c.relowner)
FROM pg_catalog.pg_class c JOIN ns ON c.relnamespace = ns.oid WHERE c.relowner NOT IN (SELECT oid FROM ok)
UNION ALL
SELECT 'function ' || p.oid::pg_catalog.regprocedure::text, pg_catalog.pg_get_userbyid(p.proowner)
FROM pg_catalog.pg_proc p JOIN ns ON p.pronamespace = ns.oid WHERE p.proowner NOT IN (SELECT oid FROM ok)
UNION ALL
SELECT 'type ' || t.oid::pg_catalog.regtype::text, pg_catalog.pg_get_userbyid(t.typowner)
FROM pg_catalog.pg_type t JOIN ns ON t.typnamespace = ns.oid WHERE t.typowner NOT IN (SELECT oid FROM ok)
UNION ALL
SELECT 'operator ' || o.oid::pg_catalog.regoperator::text, pg_catalog.pg_get_userbyid(o.oprowner)
FROM pg_catalog.pg_operator o JOIN ns ON o.oprnamespace = ns.oid WHERE o.oprowner NOT IN (SELECT oid FROM ok)
LIMIT 1`

// checkSchemaOwner refuses a phiguard schema, or an object in it, that
// another role owns (see above).
func checkSchemaOwner(ctx context.Context, conn *pgx.Conn) error {
	var what, owner string
	err := conn.QueryRow(ctx, foreignOwnedQuery, Schema).Scan(&what, &owner)
	if err == pgx.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("search install: reading the owners in schema %s: %w", Schema, err)
	}
	return fmt.Errorf("search install: %s is owned by role %s, neither the installing role nor a superuser: it could replace phiguard's term functions or records; drop it, or have its owner be the installing role, and install again", what, owner)
}
