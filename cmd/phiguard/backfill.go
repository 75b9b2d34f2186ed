package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const encryptUsage = `usage: phiguard encrypt --config FILE [--policy FILE] [--table T] [--batch N] [--workers N] [--dry-run] [--reencrypt] [--rebuild-terms]

Encrypts, in place and online, the plaintext already stored in the policy's
protected columns: batches of rows in short transactions, straight to the
database the configuration's backend: names (login from PGUSER, PGPASSWORD,
PGDATABASE), with the keys of its keys: section. Applications keep working
through phiguard meanwhile. A column that is not text (a date) is first
altered to text. Interrupted, it resumes where it stopped when run again.

  --reencrypt  also move cells of older key versions to the write version
               (after phiguard keys rotate)
  --dry-run    count plaintext and ciphertext cells per key version (and,
               for columns with search:, cells by their terms: current,
               missing, old version) and estimate the time; changes nothing
  --rebuild-terms
               recompute the search terms of every cell (after a change of
               search_key_version or of the collation's version) and strip
               them from columns whose search: was removed

A column with search: in the policy gets its search terms in every cell
written, and cells already encrypted without them (or with another term
version) get them, keeping their ciphertext. Order and match terms of text
are computed under the column's libc collation, read from the catalog;
an ICU or non-deterministic collation is refused, naming the column.

At the end of each table, every column the run leaves without plaintext
gets its cells-only CHECK (NOT VALID, then VALIDATE; the login must own
the table): from then on the database refuses any value in it that is not
a cell, however it gets there (docs/backfill.md).
`

const decryptUsage = `usage: phiguard decrypt --config FILE [--policy FILE] --table T [--column C]... [--batch N] [--workers N] [--dry-run]

Turns a table's (or some columns') cells back into plaintext, the canonical
text of each column's type, with the same batching and resume as encrypt.
The columns must be in state: encrypting. It first drops each column's
cells-only CHECK, which would refuse the plaintext. See docs/backfill.md
for the order of steps that leaves no ciphertext behind.
`

// columnList is a repeatable --column flag.
type columnList []string

func (l *columnList) String() string { return strings.Join(*l, ",") }
func (l *columnList) Set(s string) error {
	id, err := policy.ParseIdentifier(s)
	if err != nil {
		return err
	}
	*l = append(*l, id)
	return nil
}

func runEncrypt(args []string, stdout, stderr io.Writer) int {
	return runBackfill("encrypt", encryptUsage, args, stdout, stderr)
}

func runDecrypt(args []string, stdout, stderr io.Writer) int {
	return runBackfill("decrypt", decryptUsage, args, stdout, stderr)
}

func runBackfill(cmd, usage string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (backend: and keys: sections, policy_file)")
	policyPath := fs.String("policy", "", "policy file (default: the configuration's policy_file)")
	table := fs.String("table", "", "only this table of the policy (schema.table)")
	batch := fs.Int("batch", backfill.DefaultBatch, "rows per transaction")
	dry := fs.Bool("dry-run", false, "count cells and estimate the time; change nothing")
	workers := fs.Int("workers", 2, "batches in flight at once, each on its own connection")
	var reencrypt, rebuild *bool
	var cols columnList
	if cmd == "encrypt" {
		reencrypt = fs.Bool("reencrypt", false, "also move cells of older key versions to the write version")
		rebuild = fs.Bool("rebuild-terms", false, "recompute every cell's search terms")
	} else {
		fs.Var(&cols, "column", "only this protected column of --table (repeatable)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "phiguard %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}
	if *path == "" {
		fmt.Fprintf(stderr, "phiguard %s: --config is required\n", cmd)
		return 2
	}
	if cmd == "decrypt" && *table == "" {
		fmt.Fprintln(stderr, "phiguard decrypt: --table is required (the way out is taken one table at a time)")
		return 2
	}
	if *batch < 1 || *workers < 1 {
		fmt.Fprintf(stderr, "phiguard %s: --batch and --workers must be at least 1\n", cmd)
		return 2
	}
	op := backfill.Decrypt
	if cmd == "encrypt" {
		op = backfill.Encrypt
		if *reencrypt {
			op = backfill.Reencrypt
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, code := openBackfillEnv(ctx, cmd, *path, *policyPath, stderr)
	if env == nil {
		return code
	}
	defer env.conn.Close(context.Background())

	pr := newProgressPrinter(stderr)
	sum, err := backfill.Run(ctx, env.conn, backfill.Options{
		Op: op, Policy: env.pol, Keyring: env.kr, Subjects: env.sk, Table: *table, Columns: cols, Batch: *batch, DryRun: *dry,
		Progress: pr.update, Notes: stderr, Workers: *workers, Connect: env.connect,
		RebuildTerms: rebuild != nil && *rebuild, ShreddedMarker: env.cfg.Keys.Subjects.ShreddedMarker,
	})
	pr.done()
	if sum != nil {
		printSummary(stdout, sum, *dry)
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "phiguard %s: interrupted; committed batches stay done, run the same command again to resume\n", cmd)
			return 1
		}
		fmt.Fprintf(stderr, "phiguard %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// backfillEnv is what encrypt, decrypt and keys retire need: the policy,
// the keyring, and a connection to the database.
type backfillEnv struct {
	cfg      config.Config
	pol      *policy.Policy
	provider keys.Provider
	kr       *keys.Keyring
	// sk seals per-subject columns; nil when the policy names no subject column.
	sk    *keys.SubjectKeys
	conn  *pgx.Conn
	pgcfg *pgx.ConnConfig
}

// connect opens another connection like conn, for a backfill worker.
func (e *backfillEnv) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, e.pgcfg.Copy())
}

func openBackfillEnv(ctx context.Context, cmd, path, policyPath string, stderr io.Writer) (*backfillEnv, int) {
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard %s: %s: %v\n", cmd, path, err)
		return nil, 1
	}
	if policyPath == "" {
		policyPath = cfg.PolicyFile
	}
	if policyPath == "" {
		fmt.Fprintf(stderr, "phiguard %s: no policy: set policy_file in %s or give --policy\n", cmd, path)
		return nil, 2
	}
	pol, err := sqlrewrite.LoadPolicy(policyPath)
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "phiguard %s: %s: %v\n", cmd, policyPath, err)
		return nil, 1
	}
	p, err := keysconfig.Provider(cfg.Keys, nil)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard %s: %s: %v\n", cmd, path, err)
		return nil, 1
	}
	kctx, cancel := context.WithTimeout(ctx, keysTimeout)
	defer cancel()
	kr, err := keysconfig.Load(kctx, p)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard %s: %v\n", cmd, keysconfig.Explain(p, err))
		return nil, 1
	}
	sk, err := keysconfig.SubjectKeys(cfg.Keys, p, kr, pol)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard %s: %v\n", cmd, err)
		return nil, 1
	}
	pgcfg, err := backendConnConfig(cfg.Backend)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard %s: %v\n", cmd, err)
		return nil, 1
	}
	conn, err := pgx.ConnectConfig(ctx, pgcfg.Copy())
	if err != nil {
		fmt.Fprintf(stderr, "phiguard %s: connect to the backend: %v\n", cmd, err)
		return nil, 1
	}
	return &backfillEnv{cfg: cfg, pol: pol, provider: p, kr: kr, sk: sk, conn: conn, pgcfg: pgcfg}, 0
}

func printSummary(w io.Writer, s *backfill.Summary, dry bool) {
	for _, t := range s.Tables {
		if dry {
			fmt.Fprintf(w, "%s: %d rows, %d would be written; estimated %v (one batch timed and rolled back)\n",
				t.Table, t.Rows, t.Pending, t.Estimate.Round(100*time.Millisecond))
			if len(t.Converted) > 0 {
				fmt.Fprintf(w, "  would convert to text first (ALTER TABLE, one rewrite under an exclusive lock): %s\n", strings.Join(t.Converted, ", "))
			}
		} else {
			rate := 0.0
			if t.Batches > 0 {
				rate = float64(t.Rows) / t.Batches.Seconds()
			}
			resumed := ""
			if t.Resumed {
				resumed = " (resumed)"
			}
			fmt.Fprintf(w, "%s: %s%s: %d rows examined, %d written (%d cells) in %v, %.0f rows/s (%v in all, with conversion, reindex and vacuum)\n",
				t.Table, s.Op, resumed, t.Rows, t.Changed, t.Cells, t.Batches.Round(time.Millisecond), rate, t.Duration.Round(time.Millisecond))
			if t.NoSubject > 0 || t.Shredded > 0 {
				fmt.Fprintf(w, "  per-subject cells skipped: %d with a NULL subject, %d of shredded subjects\n", t.NoSubject, t.Shredded)
			}
		}
		names := make([]string, 0, len(t.Census))
		for n := range t.Census {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %-20s %s\n", n, t.Census[n])
		}
	}
}

// progressPrinter draws the progress line: rewritten in place on a
// terminal, a line every few seconds otherwise (a log file, CI).
type progressPrinter struct {
	w     io.Writer
	tty   bool
	last  time.Time
	shown bool
	cur   backfill.Progress
	// printed is the last state written, so done does not repeat it.
	printed backfill.Progress
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressPrinter{w: w, tty: tty}
}

func (p *progressPrinter) update(pr backfill.Progress) {
	if p.shown && pr.Table != p.cur.Table {
		p.print(p.cur) // the last line of the previous table
		if p.tty {
			fmt.Fprintln(p.w)
		}
	}
	p.cur = pr
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	if time.Since(p.last) < every && pr.Done < pr.Total {
		return
	}
	p.last = time.Now()
	p.print(pr)
}

func (p *progressPrinter) print(pr backfill.Progress) {
	// The rate counts rows examined by this run (a resumed run's earlier
	// rows are not part of its elapsed time).
	rate := float64(pr.Done-pr.Before) / max(pr.Elapsed.Seconds(), 0.001)
	eta := "-"
	if rate > 0 && pr.Total > pr.Done {
		eta = (time.Duration(float64(pr.Total-pr.Done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	pct := 100.0
	if pr.Total > 0 {
		pct = 100 * float64(pr.Done) / float64(pr.Total)
	}
	line := fmt.Sprintf("%s: %d/%d rows (%.1f%%), %d written, %.0f rows/s, ETA %s", pr.Table, pr.Done, pr.Total, pct, pr.Changed, rate, eta)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.shown, p.printed = true, pr
}

func (p *progressPrinter) done() {
	if !p.shown || (!p.tty && p.printed == p.cur) {
		return
	}
	p.print(p.cur)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
