package pgcatalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
)

// Querier is what Read needs of a connection: *pgx.Conn, *pgxpool.Pool and
// pgx.Tx all have it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// query reads pg_attribute rather than information_schema.columns: the
// latter shows only the columns the connected user holds a privilege on, so
// a check run with a restricted login would report existing columns as
// missing. Tables are ordinary, partitioned and foreign tables; views and
// sequences cannot hold protected columns. The collation's provider is
// the database's for the default collation (c libc, i ICU, empty for a
// column without a collation), for the search-term check.
const query = `
SELECT n.nspname, c.relname, a.attname,
       format_type(a.atttypid, a.atttypmod), a.atttypid, a.atttypmod,
       COALESCE(CASE WHEN co.collprovider = 'd' THEN d.datlocprovider ELSE co.collprovider END::text, ''),
       COALESCE(co.collname::text, ''),
       COALESCE(CASE WHEN co.collprovider = 'd' THEN d.datcollate::text ELSE co.collcollate END, ''),
       COALESCE(CASE WHEN co.collprovider = 'd' THEN d.datctype::text ELSE co.collctype END, ''),
       COALESCE(CASE WHEN co.collprovider = 'd' AND d.datlocprovider = 'c' THEN pg_catalog.pg_database_collation_actual_version(d.oid)
         WHEN co.collprovider = 'c' THEN pg_catalog.pg_collation_actual_version(co.oid) END, '')
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_database d ON d.datname = pg_catalog.current_database()
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
WHERE c.relkind IN ('r', 'p', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND (cardinality($1::text[]) = 0 OR n.nspname = ANY($1::text[]))
ORDER BY n.nspname, c.relname, a.attnum`

// Read returns the tables and columns of the given schemas (every
// non-system schema when none is given), with names exactly as PostgreSQL
// stores them, which is how policy folds the names in its file.
func Read(ctx context.Context, q Querier, schemas ...string) (policy.Catalog, error) {
	if schemas == nil {
		schemas = []string{}
	}
	rows, err := q.Query(ctx, query, schemas)
	if err != nil {
		return policy.Catalog{}, fmt.Errorf("read catalog: %w", err)
	}
	defer rows.Close()
	cat := policy.Catalog{Tables: map[policy.TableName]policy.CatalogTable{}}
	for rows.Next() {
		var t policy.TableName
		var column string
		var c policy.CatalogColumn
		if err := rows.Scan(&t.Schema, &t.Name, &column, &c.Type, &c.OID, &c.Modifier, &c.CollationProvider, &c.Collation,
			&c.CollateLocale, &c.CtypeLocale, &c.CollationVersion); err != nil {
			return policy.Catalog{}, fmt.Errorf("read catalog: %w", err)
		}
		ct, ok := cat.Tables[t]
		if !ok {
			ct = policy.CatalogTable{Columns: map[string]policy.CatalogColumn{}}
			cat.Tables[t] = ct
		}
		ct.Columns[column] = c
	}
	if err := rows.Err(); err != nil {
		return policy.Catalog{}, fmt.Errorf("read catalog: %w", err)
	}
	if err := readSearchRecords(ctx, q, &cat); err != nil {
		return policy.Catalog{}, err
	}
	return cat, nil
}

// recordsReadable says whether phiguard.search_objects exists and the
// login may read it; recordsQuery reads it.
const (
	recordsReadable = `SELECT COALESCE(pg_catalog.has_table_privilege(pg_catalog.to_regclass('` + search.ObjectsTable + `'), 'SELECT'), false)`
	recordsQuery    = `SELECT table_name, column_name, kind, COALESCE(collation_name, ''), COALESCE(collation_version, '') FROM ` + search.ObjectsTable
)

// readSearchRecords fills the columns' TermsBuiltUnder from
// phiguard.search_objects, when it can be read (cat.SearchRecords). A
// record of a table or column the catalog does not hold is left out.
func readSearchRecords(ctx context.Context, q Querier, cat *policy.Catalog) error {
	rows, err := q.Query(ctx, recordsReadable)
	if err != nil {
		return fmt.Errorf("read catalog: search records: %w", err)
	}
	readable, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
	if err != nil || !readable {
		return err
	}
	rows, err = q.Query(ctx, recordsQuery)
	if err != nil {
		return fmt.Errorf("read catalog: search records: %w", err)
	}
	type record struct{ Table, Column, Kind, Collation, Version string }
	recs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[record])
	if err != nil {
		return fmt.Errorf("read catalog: search records: %w", err)
	}
	cat.SearchRecords = true
	for _, r := range recs {
		tn, err := policy.ParseTableName(r.Table)
		if err != nil {
			continue
		}
		c, ok := cat.Tables[tn].Columns[r.Column]
		if !ok {
			continue
		}
		if c.TermsBuiltUnder == nil {
			c.TermsBuiltUnder = map[string]policy.TermsBuild{}
		}
		c.TermsBuiltUnder[r.Kind] = policy.TermsBuild{Collation: r.Collation, Version: r.Version}
		cat.Tables[tn].Columns[r.Column] = c
	}
	return nil
}
