package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/phiguard/phiguard/bench/internal/benchkit"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/proxy"
)

// policyYAML encrypts the columns a patient search reads.
const policyYAML = `version: 1
tables:
  public.patients:
    columns:
      ssn:       {mode: deterministic, key: search-ssn, type: text}
      first:     {mode: randomized,    key: search-pii, type: text}
      last:      {mode: randomized,    key: search-pii, type: text}
      birthdate: {mode: randomized,    key: search-pii, type: date}
`

// plainIndexes are what an application has on the plaintext columns the
// queries search; the encrypted copy keeps only those on plaintext ones.
const (
	sharedSetup = `CREATE INDEX ON public.encounters (patient);
CREATE TABLE public.care_teams (clinician text NOT NULL, patient uuid NOT NULL REFERENCES public.patients (id));
INSERT INTO public.care_teams SELECT 'dr_alice', id FROM public.patients ORDER BY pg_catalog.md5(id::text) LIMIT 2000;
CREATE INDEX ON public.care_teams (clinician);
ANALYZE public.care_teams`
	plainIndexes = `CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX ON public.patients (last, first);
CREATE INDEX ON public.patients USING gin (last gin_trgm_ops);
CREATE INDEX ON public.patients (birthdate);
ANALYZE public.patients`
)

// query is one search of the workload. unordered: LIMIT without ORDER
// BY, whose rows either side may pick differently: only their number is
// compared.
type query struct {
	name, target, sql string
	args              func() []string
	unordered         bool
}

var queries = []query{
	{name: "`last ILIKE 'gle%' ORDER BY last, first LIMIT 50`", target: "≤ 3×",
		sql: "SELECT id, first, last FROM public.patients WHERE last ILIKE 'gle%' ORDER BY last, first, id LIMIT 50"},
	{name: "`last ILIKE '%son1%' LIMIT 50`", target: "≤ 5×", unordered: true,
		sql: "SELECT id, first, last FROM public.patients WHERE last ILIKE '%son1%' LIMIT 50"},
	{name: "`birthdate BETWEEN … ORDER BY birthdate LIMIT 100`", target: "≤ 3×",
		sql: "SELECT id, birthdate FROM public.patients WHERE birthdate BETWEEN '1950-01-01' AND '1950-03-31' ORDER BY birthdate, id LIMIT 100"},
	{name: "one patient's encounters `ORDER BY` the patient's last name (the address read's shape)", target: "≤ 1.5×",
		sql:  "SELECT e.id, e.start, p.last FROM public.encounters e LEFT JOIN public.patients p ON p.id = e.patient WHERE e.patient IN ($1) ORDER BY p.last ASC, e.start ASC NULLS FIRST, e.id ASC",
		args: func() []string { return []string{ehrdemo.GeneratedPatientID(17)} }},
	{name: "a care-team list, 2,000 patients `ORDER BY last, first`", target: "≤ 2×",
		sql:  "SELECT p.id, p.first, p.last FROM public.patients p WHERE p.id IN (SELECT ct.patient FROM public.care_teams ct WHERE ct.clinician = $1) ORDER BY p.last, p.first, p.id",
		args: func() []string { return []string{"dr_alice"} }},
}

type settings struct {
	patients, runs int
	seed           uint64
	out            string
}

func main() {
	s := settings{patients: benchkit.EnvInt("BENCH_PATIENTS", 1_000_000), runs: benchkit.EnvInt("BENCH_RUNS", 21), seed: uint64(benchkit.EnvInt("BENCH_SEED", 13)), out: os.Getenv("BENCH_OUT")}
	if s.out == "" {
		s.out = "bench/search-last-run.md"
	}
	report, err := run(context.Background(), s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "search bench:", err)
		os.Exit(1)
	}
	fmt.Print(report)
	if err := os.WriteFile(s.out, []byte(report), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "search bench:", err)
		os.Exit(1)
	}
}

// sides are the two connections a query runs on: plaintext directly and
// encrypted through phiguard.
type sides struct{ plain, via *pgx.Conn }

func run(ctx context.Context, s settings) (string, error) {
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Settings: map[string]string{"max_connections": "50", "shared_buffers": "256MB"}})
	if err != nil {
		return "", err
	}
	defer pg.Stop()
	pol, kr, err := protection()
	if err != nil {
		return "", err
	}
	plain, enc, rate, err := load(ctx, pg, s, pol, kr)
	if err != nil {
		return "", err
	}
	defer plain.Close(ctx)
	defer enc.Close(ctx)
	addr, err := benchkit.StartProxy(pg, proxy.WithProtection(&proxy.Protection{Policy: pol, Keyring: kr}))
	if err != nil {
		return "", err
	}
	host, port, _ := net.SplitHostPort(addr)
	via, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=enc sslmode=disable", host, port, pg.Superuser, pg.Password))
	if err != nil {
		return "", err
	}
	defer via.Close(ctx)
	var b strings.Builder
	fmt.Fprintf(&b, "%d generated patients (ehrdemo.Generate, seed %d, 2 encounters each), %d runs per query and side, alternating; "+
		"median latency, extended protocol, text results. %s UTC, %d CPUs, %s.\n\n",
		s.patients, s.seed, s.runs, time.Now().UTC().Format("2006-01-02 15:04"), runtime.NumCPU(), runtime.Version())
	b.WriteString("| query | issue's target | through phiguard, encrypted | plaintext, indexed | ratio |\n|---|---|---:|---:|---:|\n")
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		stop, err := cpuProfile(path)
		if err != nil {
			return "", err
		}
		defer stop()
	}
	for _, q := range queries {
		line, err := measure(ctx, sides{plain: plain, via: via}, q, s.runs)
		if err != nil {
			return "", fmt.Errorf("%s: %w", q.name, err)
		}
		b.WriteString(line)
	}
	fmt.Fprintf(&b, "\nBackfill (`phiguard encrypt`, 2 workers): %.0f patients per second, 4 columns each.\n\n", rate)
	sizes, err := storage(ctx, plain, enc)
	if err != nil {
		return "", err
	}
	b.WriteString(sizes)
	return b.String(), nil
}

// protection is the policy and an in-memory keyring with its two keys.
func protection() (*policy.Policy, *keys.Keyring, error) {
	pol, err := policy.Parse([]byte(policyYAML))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		return nil, nil, err
	}
	var dks []keys.DataKey
	for _, id := range []string{"search-ssn", "search-pii"} {
		dk, err := keys.GenerateDataKey(id, 1, time.Now())
		if err != nil {
			return nil, nil, err
		}
		dks = append(dks, dk)
	}
	kr, err := keys.NewKeyring(dks)
	return pol, kr, err
}

// load fills the two databases from the same seed, indexes the plaintext
// one and encrypts the other with the backfill, whose rate it returns.
func load(ctx context.Context, pg *pgcluster.Cluster, s settings, pol *policy.Policy, kr *keys.Keyring) (plain, enc *pgx.Conn, rate float64, err error) {
	connect := func(ctx context.Context, db string) (*pgx.Conn, error) {
		return pgx.Connect(ctx, pg.URL(pg.Superuser, pg.Password, db))
	}
	conns := map[string]*pgx.Conn{}
	for _, db := range []string{"plain", "enc"} {
		if err := pg.CreateDatabase(ctx, db, pg.Superuser); err != nil {
			return nil, nil, 0, err
		}
		c, err := connect(ctx, db)
		if err != nil {
			return nil, nil, 0, err
		}
		conns[db] = c
		if _, err := ehrdemo.Generate(ctx, c, s.patients, 2, s.seed); err != nil {
			return nil, nil, 0, err
		}
		if _, err := c.Exec(ctx, sharedSetup); err != nil {
			return nil, nil, 0, err
		}
	}
	plain, enc = conns["plain"], conns["enc"]
	if _, err := plain.Exec(ctx, plainIndexes); err != nil {
		return nil, nil, 0, err
	}
	start := time.Now()
	_, err = backfill.Run(ctx, enc, backfill.Options{Op: backfill.Encrypt, Policy: pol, Keyring: kr, Workers: 2,
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return connect(ctx, "enc") }})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("backfill: %w", err)
	}
	rate = float64(s.patients) / time.Since(start).Seconds()
	if _, err := enc.Exec(ctx, "VACUUM ANALYZE public.patients"); err != nil {
		return nil, nil, 0, err
	}
	return plain, enc, rate, nil
}

// measure runs q on both sides, alternating, checks that every answer
// through phiguard is the plaintext one (or a refusal), and returns its
// table line.
func measure(ctx context.Context, c sides, q query, runs int) (string, error) {
	var args []string
	if q.args != nil {
		args = q.args()
	}
	var plainTimes, viaTimes []time.Duration
	// One untimed run per side first: the statement's first Parse,
	// Describe and plan, and phiguard's first look at its shape.
	_, _, _ = timed(ctx, c.plain, q.sql, args)
	_, _, _ = timed(ctx, c.via, q.sql, args)
	for range runs {
		want, d, err := timed(ctx, c.plain, q.sql, args)
		if err != nil {
			return "", fmt.Errorf("plaintext: %w", err)
		}
		plainTimes = append(plainTimes, d)
		got, d, err := timed(ctx, c.via, q.sql, args)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "0A000" || pe.Code == "54000") {
			return fmt.Sprintf("| %s | %s | refused (%s) | %v | — |\n", q.name, q.target, pe.Code, median(plainTimes).Round(time.Microsecond)), nil
		}
		if err != nil {
			return "", fmt.Errorf("through phiguard: %w", err)
		}
		if !sameAnswer(q, want, got) {
			return "", fmt.Errorf("a different answer through phiguard: %d rows where plaintext gave %d", len(got), len(want))
		}
		viaTimes = append(viaTimes, d)
	}
	mv, mp := median(viaTimes), median(plainTimes)
	return fmt.Sprintf("| %s | %s | %v | %v | %.1f× |\n", q.name, q.target, mv.Round(time.Microsecond), mp.Round(time.Microsecond), float64(mv)/float64(mp)), nil
}

// timed runs sql with text parameters and text results.
func timed(ctx context.Context, c *pgx.Conn, sql string, args []string) ([][][]byte, time.Duration, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	start := time.Now()
	res := c.PgConn().ExecParams(ctx, sql, params, nil, nil, nil).Read()
	return res.Rows, time.Since(start), res.Err
}

func sameAnswer(q query, want, got [][][]byte) bool {
	if q.unordered {
		return len(want) == len(got)
	}
	return fmt.Sprintf("%q", want) == fmt.Sprintf("%q", got)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// storage compares the bytes per cell of each encrypted column with its
// plaintext.
func storage(ctx context.Context, plain, enc *pgx.Conn) (string, error) {
	var b strings.Builder
	b.WriteString("| column | plaintext bytes per value | encrypted bytes per cell |\n|---|---:|---:|\n")
	for _, col := range []string{"ssn", "first", "last", "birthdate"} {
		q := "SELECT avg(pg_catalog.pg_column_size(" + col + "))::float8 FROM public.patients"
		var p, e float64
		if err := plain.QueryRow(ctx, q).Scan(&p); err != nil {
			return "", err
		}
		if err := enc.QueryRow(ctx, q).Scan(&e); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f |\n", col, p, e)
	}
	return b.String(), nil
}

// cpuProfile writes a CPU profile of the queries (not the load) to path,
// until stop: the process runs phiguard, so it is phiguard's share.
func cpuProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
