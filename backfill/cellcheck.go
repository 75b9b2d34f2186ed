package backfill

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/internal/pgerr"
)

// installCellChecks adds the cells-only CHECK (package cellcheck) to each
// column of the run whose census after the run finds no plaintext: from
// then on the database itself refuses a value that is not a cell, however
// it reaches the column (a rule or view another session changed under a
// statement phiguard had analysed, a write around phiguard). A column with
// plaintext left (written around phiguard during the run, or a per-subject
// column's rows without a subject or of a shredded one) is told why it
// has none yet; the next run that finds none adds it.
func installCellChecks(ctx context.Context, conn *pgx.Conn, t *table, cs map[string]Census, o Options) error {
	for _, c := range t.columns {
		if n := cs[c.pol.Name].Plaintext; n > 0 {
			fmt.Fprintf(o.Notes, "%s: cells-only CHECK %s not added: %d values are not cells yet\n", c.pol.QualifiedName(), cellcheck.Name(c.pol), n)
			continue
		}
		err := cellcheck.Install(ctx, conn, c.pol, o.Notes)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pgerr.Code(pe.Code) == pgerr.InsufficientPrivilege {
			// A login that may UPDATE the table without owning it
			// encrypts all the same (docs/backfill.md); the CHECK waits
			// for the owner, and phiguard check --catalog reports it.
			fmt.Fprintf(o.Notes, "%s: cells-only CHECK %s not added: the login does not own %s; run phiguard encrypt --table %s as its owner to add it\n",
				c.pol.QualifiedName(), cellcheck.Name(c.pol), t.ident, t.name())
			continue
		}
		if err != nil {
			return fmt.Errorf("table %s: %w", t.name(), err)
		}
	}
	return nil
}

// dropCellChecks removes the cells-only CHECK of each column of a
// decrypt before its first batch: the plaintext the batches write would
// fail it, batch after batch.
func dropCellChecks(ctx context.Context, conn *pgx.Conn, t *table, o Options) error {
	for _, c := range t.columns {
		if err := cellcheck.Drop(ctx, conn, c.pol, o.Notes); err != nil {
			return fmt.Errorf("table %s: %w", t.name(), err)
		}
	}
	return nil
}
