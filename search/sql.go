package search

import (
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// Schema is where phiguard's functions and its record of search objects
// live. (Indexes cannot: PostgreSQL creates an index in its table's
// schema.)
const Schema = "phiguard"

// ObjectsTable records every index and CHECK install built, so that
// uninstall and `check` find them (design §7.1).
const ObjectsTable = Schema + ".search_objects"

// Function is one extraction function of design §2.3: its name and its
// exact definition. The bodies are SQL-standard (RETURN, PostgreSQL 14+),
// so parsed at creation, not STRICT and without SET, so that the planner
// inlines them (in the index definition and in a query alike), and built
// from immutable built-ins only. A v1 cell, plaintext or NULL gives NULL.
type Function struct {
	Name string // schema-qualified, without the argument list
	SQL  string
}

// Functions are the four extraction functions, versioned by name (_v1):
// a later cell layout gets new functions and new indexes, never CREATE OR
// REPLACE of these, on which indexes depend.
var Functions = []Function{
	{"phiguard.term_eq_v1", `CREATE FUNCTION phiguard.term_eq_v1(c text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.left(c, 5) OPERATOR(pg_catalog.=) '~phs~'
  THEN pg_catalog.decode(NULLIF(pg_catalog.split_part(c, '~', 4), ''), 'base64') END`},
	{"phiguard.term_ord_v1", `CREATE FUNCTION phiguard.term_ord_v1(c text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.left(c, 5) OPERATOR(pg_catalog.=) '~phs~'
  THEN pg_catalog.decode(NULLIF(pg_catalog.split_part(c, '~', 5), ''), 'base64') END`},
	{"phiguard.term_pre_v1", `CREATE FUNCTION phiguard.term_pre_v1(c text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.left(c, 5) OPERATOR(pg_catalog.=) '~phs~'
  THEN CAST(NULLIF(pg_catalog.split_part(c, '~', 6), '') AS bytea) END`},
	{"phiguard.term_match_v1", `CREATE FUNCTION phiguard.term_match_v1(c text) RETURNS bytea[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.left(c, 5) OPERATOR(pg_catalog.=) '~phs~'
  THEN CAST(pg_catalog.string_to_array(
         NULLIF(pg_catalog.split_part(c, '~', 7), ''), '.') AS bytea[]) END`},
}

// objectsSQL creates the record of built objects. It holds names,
// versions and collations, never a value: PUBLIC may read it (the proxy
// will, to know a column's terms were built under its collation).
const objectsSQL = `CREATE TABLE IF NOT EXISTS phiguard.search_objects (
  table_name         text NOT NULL,
  column_name        text NOT NULL,
  kind               text NOT NULL CHECK (kind IN ('e', 'o', 'm', 'p', 'check')),
  object_name        text NOT NULL,
  search_key_version bigint NOT NULL,
  collation_name     text,
  collation_version  text,
  built_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (table_name, column_name, kind))`

// Index is one term index of a column: its kind letter (e, o, m, p), its
// name beside the table, and its definition.
type Index struct {
	Kind string
	Name string
	// Method and Expr make the definition: CREATE INDEX ... USING Method (Expr).
	Method, Expr string
}

// Indexes are the term indexes col's `search` asks for (design §2.4):
// equality and order a btree each, match a GIN over the token array, and
// order with match the (prefix key, order term) btree that serves
// `ILIKE 'abc%' ORDER BY`.
func Indexes(col *policy.ProtectedColumn) []Index {
	c := pgx.Identifier{col.Name}.Sanitize()
	var out []Index
	add := func(kind, method, expr string) {
		out = append(out, Index{Kind: kind, Name: IndexName(col, kind), Method: method, Expr: expr})
	}
	if col.Search.Has(policy.SearchEquality) {
		add("e", "btree", "phiguard.term_eq_v1("+c+")")
	}
	if col.Search.Has(policy.SearchOrder) {
		add("o", "btree", "phiguard.term_ord_v1("+c+")")
	}
	if col.Search.Has(policy.SearchMatch) {
		add("m", "gin", "phiguard.term_match_v1("+c+")")
	}
	if col.Search.Has(policy.SearchOrder) && col.Search.Has(policy.SearchMatch) {
		add("p", "btree", "phiguard.term_pre_v1("+c+"), phiguard.term_ord_v1("+c+")")
	}
	return out
}

// IndexName is phiguard_<table>_<column>_<kind>, cut to PostgreSQL's 63
// bytes with a hash of the whole name (design §2.1).
func IndexName(col *policy.ProtectedColumn, kind string) string {
	return policy.ShortIdentifier("phiguard_" + col.Table.Name.Name + "_" + col.Name + "_" + kind)
}

// CheckName is the terms-present CHECK of a column, phiguard_<column>_terms
// (constraint names are per table), cut as IndexName.
func CheckName(col *policy.ProtectedColumn) string {
	return policy.ShortIdentifier("phiguard_" + col.Name + "_terms")
}

// CheckExpr is the terms-present CHECK of design §2.4: every cell of the
// column carries terms (format 2). A v1 cell or plaintext written around
// phiguard fails it; the terms' versions and contents are the census's
// and the proxy's re-check's business.
func CheckExpr(col *policy.ProtectedColumn) string {
	c := pgx.Identifier{col.Name}.Sanitize()
	return fmt.Sprintf("%s IS NULL OR pg_catalog.left(%s, 5) OPERATOR(pg_catalog.=) '~phs~'", c, c)
}

// tableIdent is the quoted schema.table of col's table.
func tableIdent(col *policy.ProtectedColumn) string {
	return pgx.Identifier{col.Table.Name.Schema, col.Table.Name.Name}.Sanitize()
}
