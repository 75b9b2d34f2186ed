package search

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// object is one index or CHECK install built for a column.
type object struct {
	table  policy.TableName
	column string
	kind   string // e, o, m, p, check
	name   string
}

// Uninstall drops what Install built. With Options.Table (and Column) it
// drops those columns' indexes and CHECKs; without, every column's, then
// the functions, the record and schema phiguard itself, so that nothing
// of phiguard's is left (DROP SCHEMA without CASCADE: anything else put in
// the schema stops it, and is named). Terms stay in the cells; phiguard
// encrypt --rebuild-terms with `search` removed strips them. It drops
// what phiguard.search_objects records and what the policy's columns
// with `search` would be given, so an object whose record was lost, or a
// column whose `search` was since removed from the policy, is found too.
func Uninstall(ctx context.Context, conn *pgx.Conn, o Options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	r := &runner{conn: conn, o: o}
	objs, err := recorded(ctx, conn)
	if err != nil {
		return err
	}
	cols, err := searchColumns(o)
	if err != nil && (o.Column == "" || len(objs) == 0) {
		return err // a column whose search is gone from the policy is found by its record
	}
	for _, c := range cols {
		for _, ix := range Indexes(c) {
			objs = append(objs, object{c.Table.Name, c.Name, ix.Kind, ix.Name})
		}
		objs = append(objs, object{c.Table.Name, c.Name, "check", CheckName(c)})
	}
	var only *policy.TableName
	if o.Table != "" {
		n, err := policy.ParseTableName(o.Table)
		if err != nil {
			return fmt.Errorf("search: table %q: %w", o.Table, err)
		}
		only = &n
	}
	done := map[object]bool{}
	for _, ob := range objs {
		if done[ob] || only != nil && (ob.table != *only || o.Column != "" && ob.column != o.Column) {
			continue
		}
		done[ob] = true
		if err := dropObject(ctx, r, ob); err != nil {
			return err
		}
	}
	if only != nil {
		return nil
	}
	for i := len(Functions) - 1; i >= 0; i-- {
		if err := r.exec(ctx, "DROP FUNCTION IF EXISTS "+Functions[i].Name+"(text)"); err != nil {
			return fmt.Errorf("search uninstall: %w", err)
		}
	}
	if err := r.exec(ctx, "DROP TABLE IF EXISTS "+ObjectsTable); err != nil {
		return fmt.Errorf("search uninstall: %w", err)
	}
	if err := r.exec(ctx, "DROP SCHEMA IF EXISTS "+Schema); err != nil {
		return fmt.Errorf("search uninstall: schema %s holds objects phiguard did not create: %w", Schema, err)
	}
	return nil
}

// dropObject drops one index (concurrently: writes go on) or CHECK, and
// its record.
func dropObject(ctx context.Context, r *runner, ob object) error {
	table := pgx.Identifier{ob.table.Schema, ob.table.Name}.Sanitize()
	var sql string
	if ob.kind == "check" {
		var exists bool
		if err := r.conn.QueryRow(ctx, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return forget(ctx, r, ob)
		}
		sql = fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", table, pgx.Identifier{ob.name}.Sanitize())
	} else {
		sql = "DROP INDEX CONCURRENTLY IF EXISTS " + pgx.Identifier{ob.table.Schema, ob.name}.Sanitize()
	}
	if err := r.exec(ctx, sql); err != nil {
		return fmt.Errorf("search uninstall: %s.%s: %w", ob.table, ob.column, err)
	}
	return forget(ctx, r, ob)
}

func forget(ctx context.Context, r *runner, ob object) error {
	var exists bool
	if err := r.conn.QueryRow(ctx, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", ObjectsTable).Scan(&exists); err != nil || !exists {
		return err
	}
	return r.exec(ctx, "DELETE FROM "+ObjectsTable+" WHERE table_name = $1 AND column_name = $2 AND kind = $3",
		ob.table.String(), ob.column, ob.kind)
}

// recorded reads phiguard.search_objects (none when it does not exist).
func recorded(ctx context.Context, conn *pgx.Conn) ([]object, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", ObjectsTable).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, err := conn.Query(ctx, "SELECT table_name, column_name, kind, object_name FROM "+ObjectsTable+" ORDER BY 1, 2, 3")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []object
	for rows.Next() {
		var t, c, k, n string
		if err := rows.Scan(&t, &c, &k, &n); err != nil {
			return nil, err
		}
		tn, err := policy.ParseTableName(t)
		if err != nil {
			return nil, fmt.Errorf("%s: table %q: %w", ObjectsTable, t, err)
		}
		out = append(out, object{tn, c, k, n})
	}
	return out, rows.Err()
}
