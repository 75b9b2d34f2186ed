package search

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// TermCount is what the database holds in one column, by terms: read
// from the cells' text without a key (the prefix and tv sections).
type TermCount struct {
	// Current counts format-2 cells whose terms are of search_key_version.
	Current int64
	// OldVersion counts format-2 cells of another term version.
	OldVersion int64
	// Without counts values without terms: format-1 cells and plaintext.
	Without int64
	// Null counts NULLs, which need no terms.
	Null int64
}

// CountTerms counts col's values by their terms in one scan. The CHECK is
// added only when Without and OldVersion are 0.
func CountTerms(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn) (TermCount, error) {
	c := pgx.Identifier{col.Name}.Sanitize()
	q := fmt.Sprintf(`SELECT
  count(*) FILTER (WHERE pg_catalog.left(%[1]s, 5) = '~phs~' AND pg_catalog.split_part(%[1]s, '~', 3) = $1),
  count(*) FILTER (WHERE pg_catalog.left(%[1]s, 5) = '~phs~' AND pg_catalog.split_part(%[1]s, '~', 3) <> $1),
  count(*) FILTER (WHERE pg_catalog.left(%[1]s, 5) <> '~phs~'),
  count(*) FILTER (WHERE %[1]s IS NULL)
FROM %[2]s`, c+"::text", tableIdent(col))
	var t TermCount
	err := conn.QueryRow(ctx, q, fmt.Sprint(col.SearchKeyVersion)).Scan(&t.Current, &t.OldVersion, &t.Without, &t.Null)
	if err != nil {
		return t, fmt.Errorf("column %s: count terms: %w", col.QualifiedName(), err)
	}
	return t, nil
}
