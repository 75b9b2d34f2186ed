package backfill

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// convertColumns alters the run's columns that cannot hold cells to text,
// all in one ALTER TABLE (one rewrite of the table, under an ACCESS
// EXCLUSIVE lock for its duration). col::text under DateStyle ISO and
// TimeZone UTC is the canonical text the proxy encrypts.
func convertColumns(ctx context.Context, conn *pgx.Conn, t *table, notes io.Writer) ([]string, error) {
	var alters, done []string
	for _, c := range t.columns {
		if c.holdsCells() {
			continue
		}
		if c.pol.Type.OID == policy.OIDText {
			return nil, fmt.Errorf("column %s is %s in the database but the policy declares type: text, so converting it would change "+
				"what clients see; declare type: %s (phiguard check --catalog says the same)", c.pol.QualifiedName(), c.dbType, c.dbType)
		}
		alters = append(alters, fmt.Sprintf("ALTER COLUMN %s TYPE text USING %s::text", c.ident, c.ident))
		done = append(done, fmt.Sprintf("%s (%s)", c.pol.Name, c.dbType))
	}
	if len(alters) == 0 {
		return nil, nil
	}
	fmt.Fprintf(notes, "%s: converting %s to text (ALTER TABLE: an exclusive lock for one rewrite of the table; "+
		"phiguard keeps presenting the policy's type)\n", t.name(), strings.Join(done, ", "))
	if _, err := conn.Exec(ctx, "ALTER TABLE "+t.ident+" "+strings.Join(alters, ", ")); err != nil {
		return nil, fmt.Errorf("table %s: converting %s to text: %w", t.name(), strings.Join(done, ", "), err)
	}
	for _, c := range t.columns {
		if !c.holdsCells() {
			c.dbType = "text"
		}
	}
	return done, nil
}

// reindexDeterministic rebuilds the indexes on deterministic columns
// without blocking writes. They are valid without it (every UPDATE
// maintained them); the rebuild sheds the dead entry each converted row
// left. Indexes on randomized columns can serve no query any more: they
// are reported, not dropped (that is the DBA's call).
func reindexDeterministic(ctx context.Context, conn *pgx.Conn, t *table, notes io.Writer) error {
	done := map[string]bool{}
	for _, c := range t.columns {
		for _, ix := range c.indexes {
			if done[ix] {
				continue
			}
			done[ix] = true
			if c.pol.Mode != policy.ModeDeterministic {
				fmt.Fprintf(notes, "%s: index %s covers randomized column %s and can no longer serve a search; consider DROP INDEX CONCURRENTLY %s\n",
					t.name(), ix, c.pol.Name, ix)
				continue
			}
			if _, err := conn.Exec(ctx, "REINDEX INDEX CONCURRENTLY "+ix); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// Not fatal: the index is valid, only larger than it needs to be
				// (the login may not own the table, for one).
				fmt.Fprintf(notes, "%s: could not rebuild index %s (%v); it stays valid, run REINDEX INDEX CONCURRENTLY %s as its owner to shed the bloat\n",
					t.name(), ix, err, ix)
				continue
			}
			fmt.Fprintf(notes, "%s: rebuilt index %s on deterministic column %s (REINDEX CONCURRENTLY)\n", t.name(), ix, c.pol.Name)
		}
	}
	return nil
}
