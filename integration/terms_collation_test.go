package integration

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgcollate"
)

// TestSearchTermsAfterConcurrentCollationChange: another session's
// ALTER COLUMN ... COLLATE (no table rewrite) is not seen by a session's
// writes until its catalog is read again: their order and match terms
// were computed under the old collation (skipped as a HOLE until
// shredcoll: the stored order term of a value written after the change
// to C was en_US's). Such a write now carries a check of the column's
// collation (sqlrewrite/collation_guard.go): it fails with 40001 naming
// the column, nothing written, and run again (a prepared statement is
// prepared again at its next Bind) it stores the terms of the collation
// the column has now. INSERT and UPDATE, simple and extended protocol
// (a statement prepared before the ALTER), and COPY FROM STDIN (which
// has the catalog read before it, so it needs no refusal); to C
// and back to en_US; and an INSERT in a REPEATABLE READ transaction
// whose snapshot predates the ALTER.
func TestSearchTermsAfterConcurrentCollationChange(t *testing.T) {
	t.Parallel()
	f := newTermWriteFixture(t)
	ctx := testContext(t)
	su := superuser(t)
	col := f.column(t, "first")
	insert := fmt.Sprintf("INSERT INTO %s (id, first) VALUES ($1, $2)", f.enc)
	update := fmt.Sprintf("UPDATE %s SET first = $2 WHERE id = $1", f.enc)
	literal := func(q string, id int, name string) string {
		return strings.NewReplacer("$1", fmt.Sprint(id), "$2", "'"+name+"'").Replace(q)
	}
	// write runs q; a 40001 naming the column is followed by the same
	// statement again, which must succeed. It returns the 40001s seen.
	write := func(q string, mode pgx.QueryExecMode, id int, name string) int {
		t.Helper()
		refused := 0
		for range 2 {
			var err error
			if q == "COPY" {
				// Every encrypted column listed: a COPY leaving one out
				// reads the catalog before it (guard/catalog_fresh.go).
				_, err = f.via.PgConn().CopyFrom(ctx, strings.NewReader(fmt.Sprintf("%d\t\\N\t%s\t\\N\t\\N\t\\N\n", id, name)),
					"COPY "+f.enc+" (id, last, first, born, mrn, note) FROM STDIN")
			} else if mode == pgx.QueryExecModeSimpleProtocol {
				_, err = f.via.Exec(ctx, literal(q, id, name), mode)
			} else {
				_, err = f.via.Exec(ctx, q, mode, id, name)
			}
			var pe *pgconn.PgError
			switch {
			case err == nil:
				return refused
			case errors.As(err, &pe) && pe.Code == "40001" && strings.Contains(pe.Message, col.QualifiedName()) && refused == 0:
				refused++
			default:
				t.Fatalf("%s (%v): %v", q, mode, err)
			}
		}
		return refused
	}
	stored := func(id int) string {
		var got []byte
		if err := su.QueryRow(ctx, fmt.Sprintf("SELECT %s.term_ord_v1(first) FROM %s WHERE id = $1", f.fn, f.enc), id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(got)
	}
	term := func(loc *pgcollate.Locale, name string) string {
		want, err := f.cipher.CellTerms(col, loc, []byte(name))
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(want.Ord)
	}
	const name = "Émilie Zänskar"
	id := 1000
	refusals := 0
	for _, step := range []struct {
		collate string
		loc     *pgcollate.Locale
	}{{`"C"`, nil}, {`"en_US"`, f.enUS}} {
		// Each statement once before the ALTER: the session's catalog
		// reads the old collation, the extended one is prepared.
		id++
		write("COPY", pgx.QueryExecModeExec, id, "before")
		for _, mode := range bothModes {
			for _, q := range []string{insert, update} {
				id++
				write(insert, mode, id, "before")
				if q == update {
					write(q, mode, id, "before")
				}
			}
		}
		if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN first TYPE text COLLATE %s`, f.enc, step.collate)); err != nil {
			t.Fatal(err)
		}
		// The first write after the ALTER, a text COPY FROM STDIN, has
		// the catalog read before it (as every COPY FROM into a protected
		// table, guard/catalog_fresh.go), so it is not refused and
		// computes the terms under the new collation; the COPY's
		// collation check covers DDL between that read and the COPY.
		id++
		if n := write("COPY", pgx.QueryExecModeExec, id, name); n != 0 {
			t.Errorf("COPY after the column became %s: refused %d times, want none (the catalog is read before it)", step.collate, n)
		}
		if got, want := stored(id), term(step.loc, name); got != want {
			t.Errorf("COPY after the column became %s: the stored order term is not %s's", step.collate, step.collate)
		}
		// The prepared statements are prepared again at their next Bind.
		for _, mode := range bothModes {
			for _, q := range []string{insert, update} {
				id++
				if q == update {
					if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id) VALUES ($1)", f.enc), id); err != nil {
						t.Fatal(err)
					}
				}
				refusals += write(q, mode, id, name)
				if got, want := stored(id), term(step.loc, name); got != want {
					t.Errorf("%s (%v) after the column became %s: the stored order term is not %s's", q, mode, step.collate, step.collate)
				}
			}
		}

	}
	// REPEATABLE READ: the transaction's snapshot predates the ALTER,
	// the INSERT's own analysis (under its table's lock) follows it, and
	// so does the check.
	for _, mode := range bothModes {
		id++
		write(insert, mode, id, "before") // the session's catalog reads en_US
		tx, err := f.via.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil { // the snapshot
			t.Fatal(err)
		}
		collate := map[bool]string{true: `"C"`, false: `"en_US"`}[mode == pgx.QueryExecModeSimpleProtocol]
		if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN first TYPE text COLLATE %s`, f.enc, collate)); err != nil {
			t.Fatal(err)
		}
		id++
		args := []any{mode, id, name}
		q := insert
		if mode == pgx.QueryExecModeSimpleProtocol {
			q, args = literal(insert, id, name), []any{mode}
		}
		var pe *pgconn.PgError
		if _, err := tx.Exec(ctx, q, args...); !errors.As(err, &pe) || pe.Code != "40001" || !strings.Contains(pe.Message, col.QualifiedName()) {
			t.Errorf("INSERT (%v) in REPEATABLE READ after the column became %s: %v, want 40001 naming the column", mode, collate, err)
		}
		tx.Rollback(ctx) //nolint:errcheck // failed
		write(insert, mode, id, name)
		loc := map[bool]*pgcollate.Locale{true: nil, false: f.enUS}[mode == pgx.QueryExecModeSimpleProtocol]
		if got, want := stored(id), term(loc, name); got != want {
			t.Errorf("INSERT (%v) again after the column became %s: the stored order term is not its", mode, collate)
		}
	}
	if refusals == 0 {
		t.Error("no write was refused after a collation change: the session's catalog saw the change before any write")
	}
	t.Logf("%d writes refused (40001) and run again", refusals)
}
