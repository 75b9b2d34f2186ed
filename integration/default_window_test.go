package integration

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestDefaultSetDuringUnguardedShape: another session gives an encrypted
// column a plaintext default in a transaction that commits after
// phiguard read its catalog for an INSERT ... SELECT or an INSERT ...
// DEFAULT VALUES leaving the column out, and before the statement runs
// (it waits for the ALTER's lock). The catalog read saw no default; the
// statement must still store nothing in clear: phiguard writes the
// column into it with NULL and the default guard (default_guard_select.go).
func TestDefaultSetDuringUnguardedShape(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "defwin", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: defwin-k, type: text}"})
	ddl := superuser(t)
	for _, c := range []struct {
		sql  string
		mode pgx.QueryExecMode
	}{
		{"INSERT INTO " + tw.enc + " (id, note) SELECT 1, 'sel'", pgx.QueryExecModeSimpleProtocol},
		{"INSERT INTO " + tw.enc + " (id, note) SELECT g, 'gen' FROM generate_series(2, 3) g", pgx.QueryExecModeExec},
		{"INSERT INTO " + tw.enc + " DEFAULT VALUES", pgx.QueryExecModeSimpleProtocol},
		{"INSERT INTO " + tw.enc + " DEFAULT VALUES", pgx.QueryExecModeExec},
	} {
		tx, err := ddl.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := tw.via.Exec(ctx, c.sql, c.mode)
			done <- err
		}()
		waitForLockWait(t, tw, c.sql)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		err = <-done
		rt5NoPlain(t, tw)
		// In READ COMMITTED the statement's snapshot follows the
		// commit, so the guard sees the default and refuses.
		wantCode(t, err, "40001", "was given a default since this session read the catalog")
		if _, err := ddl.Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn DROP DEFAULT"); err != nil {
			t.Fatal(err)
		}
	}
}

// waitForLockWait waits until a backend runs sql waiting for a lock: the
// statement phiguard sent, behind the ALTER TABLE's transaction.
func waitForLockWait(t *testing.T, tw *twin, sql string) {
	t.Helper()
	watch := superuser(t)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var n int
		if err := watch.QueryRow(testContext(t), "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'", tw.enc).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatalf("%s never waited for the ALTER's lock", sql)
}
