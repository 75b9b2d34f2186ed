package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// DefaultBatch is the number of rows per batch when Options.Batch is 0:
// large enough that round trips do not dominate, small enough that a
// writer waiting on a row lock waits tens of milliseconds.
const DefaultBatch = 2000

// Options say what Run converts.
type Options struct {
	Op      Op
	Policy  *policy.Policy
	Keyring *keys.Keyring
	// Subjects seals the columns of tables with a subject column under
	// each row's subject key, and opens subject cells on Decrypt. Required
	// when a column of the run is sealed per subject
	// (policy.ProtectedColumn.PerSubject): without it the run refuses,
	// since a cell under the column key would escape phiguard shred.
	Subjects *keys.SubjectKeys
	// Table restricts the run to one table of the policy ("schema.table",
	// or "table" for schema public); "" runs every table.
	Table string
	// Columns restricts the run to these protected columns of Table.
	Columns []string
	// Batch is the number of rows per transaction (DefaultBatch if 0).
	Batch int
	// DryRun counts cells and times one batch in a transaction that is
	// rolled back; nothing is changed.
	DryRun bool
	// Workers is the number of batches in flight at once, each on its own
	// connection opened with Connect (default 2 when Connect is set, else 1).
	Workers int
	// Connect opens a connection to the same database, for workers.
	Connect func(context.Context) (*pgx.Conn, error)
	// Progress, when set, is called after every committed batch.
	Progress func(Progress)
	// RebuildTerms recomputes the search terms of every cell of the
	// columns with `search` (after a change of search_key_version or of
	// the collation's version) and strips the terms of cells whose column
	// no longer has `search`; otherwise only cells without current terms
	// get them. Encrypt and Reencrypt only.
	RebuildTerms bool
	// ShreddedMarker is keys.subjects.shredded_marker: a shredded
	// subject's text cell gets its terms (none when "").
	ShreddedMarker string
	// Notes receives what the run does to the schema (ALTER, REINDEX) and
	// what the DBA should do next (the policy change); nil discards them.
	Notes io.Writer
}

// Progress is the state of the table being converted.
type Progress struct {
	Table   string
	Done    int64 // rows examined, including before a resume
	Total   int64 // rows in the table when the run started
	Changed int64 // rows written by this run
	Before  int64 // rows done by earlier runs this one resumed
	Elapsed time.Duration
	Resumed bool
}

// TableResult is what a run did to one table.
type TableResult struct {
	Table    string
	Rows     int64 // rows examined by this run
	Changed  int64 // rows written
	Cells    int64 // cells written
	Duration time.Duration
	// Batches is the time spent in the batches alone (Duration also holds
	// the type conversion, REINDEX, VACUUM and the final census).
	Batches time.Duration
	Resumed bool
	// Converted lists columns altered to text, as "column (date)".
	Converted []string
	// Census counts each column's cells after the run (before it, on a dry
	// run), by column name.
	Census map[string]Census
	// Estimate is a dry run's estimate of the time the run would take.
	Estimate time.Duration
	// Pending is a dry run's count of rows that would be written.
	Pending int64
	// NoSubject counts cells of per-subject columns whose row's subject
	// column is NULL: plaintext left as it is, column-key cells kept under
	// the column key (moved to its write version on Reencrypt).
	NoSubject int64
	// Shredded counts cells whose row's subject was shredded: plaintext
	// left as it is on Encrypt (phiguard seals nothing new for a shredded
	// subject), subject cells left sealed on Decrypt.
	Shredded int64
}

// Summary is what Run did.
type Summary struct {
	Op       Op
	Tables   []TableResult
	Duration time.Duration
}

// Run converts the policy's protected columns in the database conn is
// connected to. See the package documentation.
func Run(ctx context.Context, conn *pgx.Conn, o Options) (*Summary, error) {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Notes == nil {
		o.Notes = io.Discard
	}
	if o.Op < Encrypt || o.Op > Decrypt {
		return nil, fmt.Errorf("backfill: unknown op %v", o.Op)
	}
	if o.RebuildTerms && o.Op == Decrypt {
		return nil, errors.New("backfill: rebuilding terms is part of encrypt, not decrypt")
	}
	tables, err := selectTables(o)
	if err != nil {
		return nil, err
	}
	if err := prepareSession(ctx, conn); err != nil {
		return nil, err
	}
	start := time.Now()
	sum := &Summary{Op: o.Op}
	for _, pt := range tables {
		t, err := describe(ctx, conn, pt, o.Columns)
		if err != nil {
			return sum, err
		}
		if len(t.columns) == 0 {
			continue
		}
		var res TableResult
		if o.DryRun {
			res, err = dryRun(ctx, conn, t, o)
		} else {
			res, err = runTable(ctx, conn, t, o)
		}
		sum.Tables = append(sum.Tables, res)
		if err != nil {
			return sum, err
		}
	}
	sum.Duration = time.Since(start)
	return sum, nil
}

// prepareSession sets what every connection of a run needs. Canonical text
// is PostgreSQL's output under ISO and UTC; lock_timeout keeps a batch from
// waiting long behind an application's lock (it is retried); commits return
// before the WAL flush, since a batch lost in a crash is simply done again.
// The batch UPDATE joins the locked rows by ctid: without hash and merge
// joins the planner can only take the TID scan per row, where a generic
// plan would otherwise hash-join a sequential scan of the whole table for
// every batch (quadratic in the table's size).
func prepareSession(ctx context.Context, conn *pgx.Conn) error {
	for _, s := range []string{"SET DateStyle = ISO", "SET TimeZone = 'UTC'", "SET IntervalStyle = postgres",
		"SET lock_timeout = '5s'", "SET synchronous_commit = off", "SET extra_float_digits = 1", "SET bytea_output = hex",
		"SET enable_hashjoin = off", "SET enable_mergejoin = off"} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("backfill: %s: %w", s, err)
		}
	}
	return nil
}

func selectTables(o Options) ([]*policy.ProtectedTable, error) {
	all := o.Policy.Tables()
	if o.Table == "" {
		if len(o.Columns) > 0 {
			return nil, errors.New("backfill: columns are given without a table")
		}
		return all, nil
	}
	name, err := policy.ParseTableName(o.Table)
	if err != nil {
		return nil, fmt.Errorf("backfill: table %q: %w", o.Table, err)
	}
	pt, ok := o.Policy.Table(name.Schema, name.Name)
	if !ok {
		return nil, fmt.Errorf("backfill: table %s is not in the policy", name)
	}
	return []*policy.ProtectedTable{pt}, nil
}

func runTable(ctx context.Context, conn *pgx.Conn, t *table, o Options) (TableResult, error) {
	res := TableResult{Table: t.name()}
	start := time.Now()
	if o.Op == Decrypt {
		if err := refuseCheckedDecrypt(ctx, conn, t); err != nil {
			return res, err
		}
		for _, c := range t.columns {
			if c.pol.FullyEncrypted() {
				return res, fmt.Errorf("column %s is marked state: encrypted, so phiguard would refuse the plaintext this run writes; "+
					"set state: encrypting for it in the policy and reload phiguard first", c.pol.QualifiedName())
			}
		}
		if err := dropCellChecks(ctx, conn, t, o); err != nil { // cellcheck.go
			return res, err
		}
	} else {
		conv, err := convertColumns(ctx, conn, t, o.Notes)
		res.Converted = conv
		if err != nil {
			return res, err
		}
		if err := resolveLocales(ctx, conn, t, o); err != nil {
			return res, err
		}
	}
	b, err := newBatcher(t, o)
	if err != nil {
		return res, err
	}
	key := progressKey{table: t.name(), op: o.Op.String(), columns: columnList(t), signature: b.signature()}
	rp, err := loadResume(ctx, conn, key)
	if err != nil {
		return res, fmt.Errorf("table %s: progress: %w", t.name(), err)
	}
	res.Resumed = rp.resumed
	if rp.resumed {
		fmt.Fprintf(o.Notes, "%s: resuming %s after %d rows done by an earlier run\n", t.name(), o.Op, rp.rowsDone)
	}
	var total int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+t.ident).Scan(&total); err != nil {
		return res, err
	}
	if err := b.start(ctx, conn, rp.lastKey); err != nil {
		return res, err
	}
	done := rp.rowsDone
	report := func(st batchStats) {
		res.Rows += st.rows
		res.Changed += st.changed
		res.Cells += st.cells
		res.NoSubject += st.noSubject
		res.Shredded += st.shredded
		done += st.rows
		if o.Progress != nil {
			o.Progress(Progress{Table: t.name(), Done: done, Total: max(total, done), Changed: res.Changed, Before: rp.rowsDone,
				Elapsed: time.Since(start), Resumed: rp.resumed})
		}
	}
	batches := time.Now()
	err = runJobs(ctx, conn, b, o, key, rp.lastKey, report)
	res.Batches = time.Since(batches)
	if err != nil {
		res.Duration = time.Since(start)
		return res, fmt.Errorf("table %s: %w", t.name(), err)
	}
	if err := finishProgress(ctx, conn, key); err != nil {
		return res, err
	}
	if o.Op != Decrypt && res.Changed > 0 {
		if err := reindexDeterministic(ctx, conn, t, o.Notes); err != nil {
			return res, err
		}
	}
	if res.Changed > 0 {
		// Every converted row left a dead version behind: without a vacuum
		// the next pass (a re-encryption) and the application pay for it in
		// every index lookup. VACUUM takes no lock that blocks writes.
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+t.ident); err != nil {
			return res, fmt.Errorf("table %s: VACUUM: %w", t.name(), err)
		}
		fmt.Fprintf(o.Notes, "%s: vacuumed (%d rows left a dead version)\n", t.name(), res.Changed)
	}
	res.Duration = time.Since(start)
	res.Census, err = census(ctx, conn, t)
	if err != nil {
		return res, err
	}
	if o.Op != Decrypt {
		if err := installCellChecks(ctx, conn, t, res.Census, o); err != nil { // cellcheck.go
			return res, err
		}
	}
	adviseNext(o, t, res.Census, b.writes)
	adviseSkipped(o, t, res)
	return res, nil
}

func columnList(t *table) string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.pol.Name
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// retryable are the errors that abort a batch but not the run: a deadlock
// or serialization failure with an application transaction, or a lock not
// granted within lock_timeout.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pgerr.Code(pe.Code) {
		case pgerr.DeadlockDetected, pgerr.SerializationFailure, pgerr.LockNotAvailable:
			return true
		}
	}
	return false
}
