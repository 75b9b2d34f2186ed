package search

// The proxy reads phiguard.search_objects to know under which collation
// and version a text column's order and match terms were built (design
// §5.1): terms built under another C library version, or before an
// ALTER COLUMN ... COLLATE, may order or lower values differently from
// the database now, so an index over them could hide rows from a search.

// RecordsQuery reads every record of phiguard.search_objects as rows of
// five text fields: table (schema.name), column, kind (e, o, m, p,
// check), collation name and collation version (NULL when the kind
// depends on no collation). It never fails: the proxy runs it inside the
// client's transaction (a failed statement would abort it), where the
// table may not exist (search install never ran) or the login may have
// no SELECT on it; both give no rows. XMLTABLE over table_to_xml is how
// one statement reads a table it cannot name until it knows the table
// exists: table_to_xml is strict, so a NULL relation gives NULL and no
// row, and the relation is only read when has_table_privilege allows it.
// It needs a server built with libxml, which the proxy asks only of
// policies with ready order or match terms on text (they are the only
// readers).
//
// to_regclass fails (42501) instead of answering NULL when the schema
// exists and the login may not use it (a REVOKE, or the moment between
// install's CREATE SCHEMA and its GRANT USAGE): every login through
// phiguard then failed. So the schema's USAGE is asked first, in an
// outer CASE (a CASE evaluates its THEN only when its WHEN holds; AND
// promises no order).
const RecordsQuery = `SELECT r.table_name, r.column_name, r.kind, r.collation_name, r.collation_version
FROM XMLTABLE('/*/row' PASSING CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_namespace n
    WHERE n.nspname OPERATOR(pg_catalog.=) '` + Schema + `' AND pg_catalog.has_schema_privilege(n.oid, 'USAGE'))
  THEN CASE WHEN pg_catalog.has_table_privilege(pg_catalog.to_regclass('` + ObjectsTable + `'), 'SELECT')
  THEN pg_catalog.table_to_xml(pg_catalog.to_regclass('` + ObjectsTable + `'), true, false, '') END END
  COLUMNS table_name text PATH 'table_name', column_name text PATH 'column_name', kind text PATH 'kind',
    collation_name text PATH 'collation_name', collation_version text PATH 'collation_version') r`
