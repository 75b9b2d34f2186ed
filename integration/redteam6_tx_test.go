package integration

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phiguard/phiguard/config"
)

// After an error phiguard raises itself once the database ran the
// statement fine (its sort cap, a cell it cannot decrypt: failResult),
// the backend's transaction block is aborted as after PostgreSQL's own
// error (guard/txabort.go): ReadyForQuery 'E', the next statement 25P02,
// COMMIT answered ROLLBACK and the writes before it gone, ROLLBACK TO
// SAVEPOINT going back to work. Not covered here, and not fixed: a
// statement after the failed one in the same Query message or the same
// pipeline (one Sync) has already run in the backend; outside a
// transaction block its writes are committed (README "Errors phiguard
// raises itself").

// TestRedTeam6FailedSortInTransaction: a sorted statement phiguard fails
// itself (past limits.proxy_sort_rows: 54000) after the database ran it
// fine. PostgreSQL's own error would abort the transaction: the next
// statement fails with 25P02 and COMMIT rolls back. The client must see
// the same transaction it would after an error: the insert made before
// the failed SELECT must not be committed by a later COMMIT.
func TestRedTeam6FailedSortInTransaction(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	ctx := testContext(t)
	for _, mode := range bothModes {
		if _, err := f.via.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.via.Exec(ctx, f.sql("INSERT INTO %[2]s (id, person) VALUES (9999, 1)", 1), mode); err != nil {
			t.Fatal(err)
		}
		_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s ORDER BY name, id", 1), mode, 0)
		wantCode(t, err, "54000", "limits.proxy_sort_rows")
		status := f.via.PgConn().TxStatus()
		_, next := f.via.Exec(ctx, "SELECT 1")
		tag, cerr := f.via.Exec(ctx, "COMMIT")
		n := f.countAndDelete(t, 9999)
		if n != 0 || status != 'E' {
			t.Fatalf("%v: after phiguard's 54000 the transaction status is %q (want 'E'), the next statement got %v, COMMIT %q %v, and the insert before it is committed: %d rows", mode, status, next, tag, cerr, n)
		}
		wantPgError(t, next, "25P02")
		if cerr != nil || tag.String() != "ROLLBACK" {
			t.Fatalf("%v: COMMIT after phiguard's error: %q %v, want ROLLBACK as PostgreSQL answers", mode, tag, cerr)
		}
		if st := f.via.PgConn().TxStatus(); st != 'I' {
			t.Fatalf("%v: after COMMIT the status is %q", mode, st)
		}
	}
}

// TestRedTeam6FailedSortSavepoint: ROLLBACK TO SAVEPOINT after phiguard's
// error works as after PostgreSQL's: the writes before the savepoint are
// kept and committed, those after it are gone, and the transaction goes on.
func TestRedTeam6FailedSortSavepoint(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	ctx := testContext(t)
	for _, mode := range bothModes {
		steps := []string{"BEGIN", f.sql("INSERT INTO %[2]s (id, person) VALUES (9998, 1)", 1), "SAVEPOINT s1",
			f.sql("INSERT INTO %[2]s (id, person) VALUES (9999, 1)", 1)}
		for _, q := range steps {
			if _, err := f.via.Exec(ctx, q, mode); err != nil {
				t.Fatal(err)
			}
		}
		_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s ORDER BY name, id", 1), mode, 0)
		wantCode(t, err, "54000", "limits.proxy_sort_rows")
		if st := f.via.PgConn().TxStatus(); st != 'E' {
			t.Fatalf("%v: status %q after phiguard's error, want 'E'", mode, st)
		}
		if _, err := f.via.Exec(ctx, "ROLLBACK TO SAVEPOINT s1"); err != nil {
			t.Fatalf("%v: ROLLBACK TO SAVEPOINT: %v", mode, err)
		}
		if st := f.via.PgConn().TxStatus(); st != 'T' {
			t.Fatalf("%v: status %q after ROLLBACK TO SAVEPOINT, want 'T'", mode, st)
		}
		if got := queryInt(t, f.via, f.sql("SELECT count(*) FROM %[2]s WHERE id IN (9998, 9999)", 1)); got != 1 {
			t.Fatalf("%v: %d of the two rows inside the transaction after ROLLBACK TO SAVEPOINT, want 1", mode, got)
		}
		if tag, err := f.via.Exec(ctx, "COMMIT"); err != nil || tag.String() != "COMMIT" {
			t.Fatalf("%v: COMMIT: %q %v", mode, tag, err)
		}
		if kept, gone := f.countAndDelete(t, 9998), f.countAndDelete(t, 9999); kept != 1 || gone != 0 {
			t.Fatalf("%v: committed %d rows from before the savepoint (want 1) and %d from after it (want 0)", mode, kept, gone)
		}
	}
}

// TestRedTeam6CorruptCellInTransaction: a row phiguard cannot decrypt (a
// cell moved, in the database, into another encrypted column: XX001)
// aborts the transaction too.
func TestRedTeam6CorruptCellInTransaction(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 5, nil)
	ctx := testContext(t)
	if _, err := f.dir.Exec(ctx, f.sql("UPDATE %[1]s SET born = name WHERE id = 1 AND name IS NOT NULL", 1)); err != nil {
		t.Fatal(err)
	}
	for _, mode := range bothModes {
		if _, err := f.via.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.via.Exec(ctx, f.sql("INSERT INTO %[2]s (id, person) VALUES (9999, 1)", 1), mode); err != nil {
			t.Fatal(err)
		}
		_, err := rowsRaw(t, f.via, f.sql("SELECT born FROM %[1]s WHERE id = 1", 1), mode, 0)
		wantPgError(t, err, "XX001")
		status := f.via.PgConn().TxStatus()
		_, next := f.via.Exec(ctx, "SELECT 1")
		tag, _ := f.via.Exec(ctx, "COMMIT")
		if n := f.countAndDelete(t, 9999); n != 0 || status != 'E' || tag.String() != "ROLLBACK" {
			t.Fatalf("%v: after phiguard's XX001: status %q (want 'E'), next statement %v, COMMIT %q, %d rows committed", mode, status, next, tag, n)
		}
		wantPgError(t, next, "25P02")
	}
}

// TestRedTeam6FailedSortOutsideTransaction: phiguard's error in autocommit
// leaves nothing behind: the next transaction commits.
func TestRedTeam6FailedSortOutsideTransaction(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	ctx := testContext(t)
	for _, mode := range bothModes {
		_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s ORDER BY name, id", 1), mode, 0)
		wantCode(t, err, "54000", "limits.proxy_sort_rows")
		if st := f.via.PgConn().TxStatus(); st != 'I' {
			t.Fatalf("%v: status %q after phiguard's error outside a transaction, want 'I'", mode, st)
		}
		err = pgx.BeginFunc(ctx, f.via, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, f.sql("INSERT INTO %[2]s (id, person) VALUES (9999, 1)", 1), mode)
			return err
		})
		if n := f.countAndDelete(t, 9999); err != nil || n != 1 {
			t.Fatalf("%v: the transaction after phiguard's error: %v, %d rows committed", mode, err, n)
		}
	}
}

// countAndDelete counts the encrypted side's address rows with id, read
// directly, and deletes them.
func (f *sortFixture) countAndDelete(t *testing.T, id int) int {
	t.Helper()
	ctx := context.Background()
	var n int
	if err := f.dir.QueryRow(ctx, f.sql("SELECT count(*) FROM %[2]s WHERE id = $1", 1), id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.Exec(ctx, f.sql("DELETE FROM %[2]s WHERE id = $1", 1), id); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRedTeam6FailedSortPipelined: requests pipelined behind the failed
// one (each with its Sync, or one not yet synced) were in the backend
// before phiguard failed the result, and run as they came: the session
// must not hang on them, and the transaction still ends aborted, so
// COMMIT rolls back, as it does in PostgreSQL.
func TestRedTeam6FailedSortPipelined(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	ctx := testContext(t)
	for _, syncSecond := range []bool{true, false} {
		if _, err := f.via.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.via.Exec(ctx, f.sql("INSERT INTO %[2]s (id, person) VALUES (9999, 1)", 1)); err != nil {
			t.Fatal(err)
		}
		pl := f.via.PgConn().StartPipeline(ctx)
		pl.SendQueryParams(f.sql("SELECT id FROM %[1]s ORDER BY name, id", 1), nil, nil, nil, nil)
		pl.SendPipelineSync()
		pl.SendQueryParams(f.sql("INSERT INTO %[2]s (id, person) VALUES (9998, 1)", 1), nil, nil, nil, nil)
		if syncSecond {
			pl.SendPipelineSync()
		}
		if err := pl.Flush(); err != nil {
			t.Fatal(err)
		}
		readPipelineResult(t, pl, "54000")
		if !syncSecond {
			// The second request's answer is read only after its Sync,
			// as libpq's pipeline mode may: phiguard must not wait for
			// the client's Sync before letting the first one's out.
			if err := pl.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		readPipelineResult(t, pl, "")
		if err := pl.Close(); err != nil {
			t.Fatalf("sync %v: closing the pipeline: %v", syncSecond, err)
		}
		tag, err := f.via.Exec(ctx, "COMMIT")
		kept, pipelined := f.countAndDelete(t, 9999), f.countAndDelete(t, 9998)
		if err != nil || tag.String() != "ROLLBACK" || kept+pipelined != 0 {
			t.Fatalf("sync %v: COMMIT %q %v; committed %d rows from before the error and %d pipelined behind it", syncSecond, tag, err, kept, pipelined)
		}
	}
}

// readPipelineResult reads one statement's result and the Sync after it;
// the statement must fail with code, or (code "") either succeed or fail
// with 25P02. A statement the backend fails at its Parse (25P02 when the
// transaction was aborted before it arrived) has no result to read:
// pgconn returns its error from GetResults itself. Which of the two a
// pipelined statement meets depends on whether it reached the backend
// before phiguard aborted the transaction.
func readPipelineResult(t *testing.T, pl *pgconn.Pipeline, code string) {
	t.Helper()
	res, err := pl.GetResults()
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		rr, ok := res.(*pgconn.ResultReader)
		if !ok {
			t.Fatalf("pipeline result %T, want a statement's", res)
		}
		_, err = rr.Close()
	case !errors.As(err, &pgErr):
		t.Fatal(err)
	}
	switch {
	case code != "":
		wantPgError(t, err, code)
	case err != nil:
		wantPgError(t, err, "25P02")
	}
	if res, err = pl.GetResults(); err != nil {
		t.Fatal(err)
	}
	if _, ok := res.(*pgconn.PipelineSync); !ok {
		t.Fatalf("pipeline result %T, want its Sync", res)
	}
}

// TestRedTeam6AbortKeepsUnnamedStatement: phiguard's abort leaves the
// client's unnamed statement alone, as PostgreSQL's own error does: a
// Bind of it in the aborted transaction gets 25P02 (not 26000, which a
// simple Query in between would cause by dropping it).
func TestRedTeam6AbortKeepsUnnamedStatement(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	ctx := testContext(t)
	pgc := f.via.PgConn()
	if _, err := f.via.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgc.Prepare(ctx, "", "SELECT 42::int4", nil); err != nil {
		t.Fatal(err)
	}
	_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s ORDER BY name, id", 1), pgx.QueryExecModeCacheStatement, 0)
	wantCode(t, err, "54000", "limits.proxy_sort_rows")
	wantPgError(t, pgc.ExecPrepared(ctx, "", nil, nil, nil).Read().Err, "25P02")
	if _, err := pgc.Exec(ctx, "ROLLBACK").ReadAll(); err != nil {
		t.Fatal(err)
	}
}
