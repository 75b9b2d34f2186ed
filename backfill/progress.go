package backfill

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgerr"
)

// ProgressTable is where runs keep their resume point, in the database they
// convert, so that whoever can run the backfill again can also resume it.
const ProgressTable = "public.phiguard_backfill_progress"

const createProgress = `CREATE TABLE IF NOT EXISTS ` + ProgressTable + ` (
	table_name  text NOT NULL,
	operation   text NOT NULL,
	columns     text NOT NULL,
	signature   text NOT NULL,
	last_key    text[],
	rows_done   bigint NOT NULL DEFAULT 0,
	started_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	PRIMARY KEY (table_name, operation, columns)
)`

// resumePoint is a run's saved state for one table.
type resumePoint struct {
	lastKey  []string // nil: start from the beginning
	rowsDone int64
	resumed  bool
}

// progressKey identifies a run: the table, the op and the columns it
// converts. signature records the target key versions; a run whose
// signature changed since (a rotation) starts again.
type progressKey struct {
	table, op, columns, signature string
}

func loadResume(ctx context.Context, conn *pgx.Conn, k progressKey) (resumePoint, error) {
	if _, err := conn.Exec(ctx, createProgress); err != nil {
		// Two runs (on two tables) starting at once on a database without
		// the table: IF NOT EXISTS does not serialize them, and the one
		// whose catalog insert comes second fails. The table is there
		// now.
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pgerr.Code(pe.Code) != pgerr.UniqueViolation && pgerr.Code(pe.Code) != pgerr.DuplicateTable {
			return resumePoint{}, err
		}
		if _, err := conn.Exec(ctx, createProgress); err != nil {
			return resumePoint{}, err
		}
	}
	var (
		sig      string
		last     []string
		done     int64
		finished *time.Time
	)
	err := conn.QueryRow(ctx, `SELECT signature, last_key, rows_done, finished_at FROM `+ProgressTable+`
		WHERE table_name = $1 AND operation = $2 AND columns = $3`, k.table, k.op, k.columns).Scan(&sig, &last, &done, &finished)
	if err == pgx.ErrNoRows || (err == nil && (finished != nil || sig != k.signature || last == nil)) {
		_, err = conn.Exec(ctx, `INSERT INTO `+ProgressTable+` (table_name, operation, columns, signature)
			VALUES ($1, $2, $3, $4) ON CONFLICT (table_name, operation, columns) DO UPDATE
			SET signature = EXCLUDED.signature, last_key = NULL, rows_done = 0, started_at = now(), updated_at = now(), finished_at = NULL`,
			k.table, k.op, k.columns, k.signature)
		return resumePoint{}, err
	}
	if err != nil {
		return resumePoint{}, err
	}
	return resumePoint{lastKey: last, rowsDone: done, resumed: true}, nil
}

// saveProgress records that every batch up to last has committed.
func saveProgress(ctx context.Context, conn *pgx.Conn, k progressKey, last []string, rows int64) error {
	_, err := conn.Exec(ctx, `UPDATE `+ProgressTable+` SET last_key = $4, rows_done = rows_done + $5, updated_at = now()
		WHERE table_name = $1 AND operation = $2 AND columns = $3`, k.table, k.op, k.columns, last, rows)
	return err
}

func finishProgress(ctx context.Context, conn *pgx.Conn, k progressKey) error {
	_, err := conn.Exec(ctx, `UPDATE `+ProgressTable+` SET finished_at = now(), updated_at = now()
		WHERE table_name = $1 AND operation = $2 AND columns = $3`, k.table, k.op, k.columns)
	return err
}
