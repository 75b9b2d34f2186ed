package search

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/policy"
)

// Collation is a column's collation as the catalog describes it, the
// database default resolved to what it stands for.
type Collation struct {
	Name     string // pg_collation.collname ("default", "C", "en_US.utf8"); "" when the column has none
	Provider string // 'c' libc, 'i' ICU
	Collate  string // LC_COLLATE (ICU: the ICU locale)
	Ctype    string // LC_CTYPE
	// Version is the collation's version as the server reports it now
	// (libc: its C library's; "" for C and POSIX).
	Version       string
	Deterministic bool
}

// ColumnCollation reads the collation of a table's column (a column of a
// type without collation, such as date before the backfill converts it,
// gives the zero Collation). A column missing from the database is an
// error.
func ColumnCollation(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn) (Collation, error) {
	c, _, err := describeColumn(ctx, conn, col)
	return c, err
}

// describeColumn reads a column's collation and its type as stored
// (format_type).
func describeColumn(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn) (Collation, string, error) {
	const q = `SELECT pg_catalog.format_type(a.atttypid, a.atttypmod), COALESCE(l.collname::text, ''),
  CASE WHEN l.collprovider = 'd' THEN d.datlocprovider::text ELSE l.collprovider::text END,
  CASE WHEN l.collprovider = 'd' THEN COALESCE(d.daticulocale, d.datcollate::text) ELSE COALESCE(l.colliculocale, l.collcollate, '') END,
  CASE WHEN l.collprovider = 'd' THEN COALESCE(d.daticulocale, d.datctype::text) ELSE COALESCE(l.colliculocale, l.collctype, '') END,
  COALESCE(CASE WHEN l.collprovider = 'd' AND d.datlocprovider = 'c' THEN pg_catalog.pg_database_collation_actual_version(d.oid)
    WHEN l.collprovider = 'c' THEN pg_catalog.pg_collation_actual_version(l.oid) END, ''),
  COALESCE(l.collisdeterministic, true)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_collation l ON l.oid = a.attcollation
JOIN pg_catalog.pg_database d ON d.datname = pg_catalog.current_database()
WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped`
	var c Collation
	var typ string
	var provider, collate, ctype, version *string
	err := conn.QueryRow(ctx, q, col.Table.Name.Schema, col.Table.Name.Name, col.Name).
		Scan(&typ, &c.Name, &provider, &collate, &ctype, &version, &c.Deterministic)
	if errors.Is(err, pgx.ErrNoRows) {
		return Collation{}, "", fmt.Errorf("column %s does not exist in the database", col.QualifiedName())
	}
	if err != nil {
		return Collation{}, "", fmt.Errorf("column %s: collation: %w", col.QualifiedName(), err)
	}
	for _, p := range []struct {
		dst *string
		src *string
	}{{&c.Provider, provider}, {&c.Collate, collate}, {&c.Ctype, ctype}, {&c.Version, version}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return c, typ, nil
}

// NeedsLocale says whether col's terms depend on its collation: order
// and match terms of a text type (design §5.1). Equality terms, and
// every term of another type, do not.
func NeedsLocale(col *policy.ProtectedColumn) bool {
	if !col.Search.Has(policy.SearchOrder) && !col.Search.Has(policy.SearchMatch) {
		return false
	}
	switch col.Type.OID {
	case policy.OIDText, policy.OIDVarchar, policy.OIDBpchar:
		return true
	}
	return false
}

// Locale is the locale col's order and match terms are computed under
// (cellcipher.SealWithTerms's loc): nil for C and POSIX, which order by
// bytes and lower ASCII only, or the libc locale opened where phiguard
// runs. The order term follows the collation's LC_COLLATE, the match
// term its LC_CTYPE (lower()), so a column with both needs the two to be
// one locale; a column with one of them uses that one's. This is the
// proxy's rule for its writes (guard/protect_terms.go, termLocale): the
// backfill, the install and the proxy compute and record terms under the
// same locale. Refused, naming the column: ICU; a non-deterministic
// collation; a column with order and match terms whose LC_COLLATE and
// LC_CTYPE differ; a server whose C library is not phiguard's (their
// orders may differ); a locale phiguard cannot open. A column whose
// terms need no collation gets nil.
func (c Collation) Locale(col *policy.ProtectedColumn) (*pgcollate.Locale, error) {
	if !NeedsLocale(col) {
		return nil, nil
	}
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("column %s (search: %s) under collation %q: %s; phiguard computes order and match terms under libc collations only (docs/design/search-terms.md §5.1)",
			col.QualifiedName(), col.Search, c.Name, fmt.Sprintf(format, a...))
	}
	bytewise := func(s string) bool { return s == "C" || s == "POSIX" }
	locale := c.TermLocale(col)
	switch {
	case c.Name == "":
		return nil, refuse("the column's type has no collation")
	case c.Provider != "c":
		return nil, refuse("an ICU collation")
	case !c.Deterministic:
		return nil, refuse("a non-deterministic collation")
	case c.Collate != c.Ctype && col.Search.Has(policy.SearchOrder) && col.Search.Has(policy.SearchMatch):
		return nil, refuse("LC_COLLATE %s and LC_CTYPE %s differ, and its order and match terms are computed under one locale", c.Collate, c.Ctype)
	case bytewise(locale):
		return nil, nil
	case c.Version != "" && c.Version != pgcollate.Version():
		return nil, refuse("the database server's C library (version %s) is not phiguard's (%s), so their orders may differ", c.Version, pgcollate.Version())
	}
	loc, err := pgcollate.Open(locale)
	if err != nil {
		return nil, refuse("phiguard cannot use the locale where it runs (%v)", err)
	}
	return loc, nil
}

// TermLocale is the name of the locale col's order and match terms
// depend on: LC_COLLATE when the column has an order term, else LC_CTYPE
// (match only). Locale refuses a column with both whose two differ.
func (c Collation) TermLocale(col *policy.ProtectedColumn) string {
	if col.Search.Has(policy.SearchOrder) {
		return c.Collate
	}
	return c.Ctype
}
