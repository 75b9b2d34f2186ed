package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/bench/internal/benchkit"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/proxy"
	"github.com/prometheus/client_golang/prometheus"
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
	// keep is BENCH_KEEP: a directory that keeps the cluster, its keyring
	// and what loading it measured, for the next run of the same size
	// and seed ("": a throwaway one).
	keep string
	// only is BENCH_QUERIES: the 1-based numbers of the queries to run
	// (nil: all).
	only map[int]bool
}

func main() {
	s := settings{patients: benchkit.EnvInt("BENCH_PATIENTS", 1_000_000), runs: benchkit.EnvInt("BENCH_RUNS", 21),
		seed: uint64(benchkit.EnvInt("BENCH_SEED", 13)), out: os.Getenv("BENCH_OUT"), keep: os.Getenv("BENCH_KEEP")}
	if s.out == "" {
		s.out = "bench/search-last-run.md"
	}
	if v := os.Getenv("BENCH_QUERIES"); v != "" {
		s.only = map[int]bool{}
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > len(queries) {
				fmt.Fprintf(os.Stderr, "search bench: BENCH_QUERIES=%s: want numbers 1 to %d\n", v, len(queries))
				os.Exit(2)
			}
			s.only[n] = true
		}
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
// encrypted through phiguard, whose metrics are in reg.
type sides struct {
	plain, via *pgx.Conn
	reg        *prometheus.Registry
}

func run(ctx context.Context, s settings) (string, error) {
	d, err := openDataset(ctx, s)
	if err != nil {
		return "", err
	}
	defer d.cleanup()
	ready, err := parsePolicy(readyYAML)
	if err != nil {
		return "", err
	}
	plain, err := d.connect(ctx, "plain")
	if err != nil {
		return "", err
	}
	defer plain.Close(ctx)
	reg := prometheus.NewRegistry()
	addr, err := benchkit.StartProxyMetrics(d.pg, reg, proxy.WithProtection(&guard.Protection{Policy: ready, Keyring: d.kr}))
	if err != nil {
		return "", err
	}
	host, port, _ := net.SplitHostPort(addr)
	via, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=enc sslmode=disable", host, port, d.pg.Superuser, d.pg.Password))
	if err != nil {
		return "", err
	}
	defer via.Close(ctx)
	var b strings.Builder
	fmt.Fprintf(&b, "%d generated patients (ehrdemo.Generate, seed %d, 2 encounters each; loaded %s UTC%s), %d runs per query and side, alternating; "+
		"median latency, extended protocol, text results. %s UTC, %d CPUs, %s, load average %s.\n\n",
		s.patients, s.seed, d.fig.Made, map[bool]string{true: ", kept and reused"}[d.reused], s.runs,
		time.Now().UTC().Format("2006-01-02 15:04"), runtime.NumCPU(), runtime.Version(), loadAverage())
	b.WriteString("| query | issue's target | through phiguard, encrypted | plaintext, indexed | ratio |\n|---|---|---:|---:|---:|\n")
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		stop, err := cpuProfile(path)
		if err != nil {
			return "", err
		}
		defer stop()
	}
	stopMem := memProfile(os.Getenv("BENCH_MEMPROFILE"))
	var counts []queryCounts
	for i, q := range queries {
		if s.only != nil && !s.only[i+1] {
			continue
		}
		line, c, err := measure(ctx, sides{plain: plain, via: via, reg: reg}, q, s.runs)
		if err != nil {
			return "", fmt.Errorf("%s: %w", q.name, err)
		}
		b.WriteString(line)
		counts = append(counts, c)
	}
	if err := stopMem(); err != nil {
		return "", err
	}
	b.WriteString(countsTable(counts))
	enc, err := d.connect(ctx, "enc")
	if err != nil {
		return "", err
	}
	defer enc.Close(ctx)
	sizes, err := storage(ctx, plain, enc)
	if err != nil {
		return "", err
	}
	b.WriteString(loadLines(d))
	b.WriteString(sizes)
	if os.Getenv("BENCH_EXPLAIN") != "" {
		text, err := explainAll(ctx, s, plain, enc)
		if err != nil {
			return "", err
		}
		b.WriteString(text)
	}
	return b.String(), nil
}

// explainAll is EXPLAIN ANALYZE of each query on plaintext and, as the
// client wrote it (phiguard would send it rewritten: no ORDER BY, hidden
// columns), on the encrypted database directly: the database's share of
// a query through phiguard, and how it differs on the wider cells.
func explainAll(ctx context.Context, s settings, plain, enc *pgx.Conn) (string, error) {
	var b strings.Builder
	for i, q := range queries {
		if s.only != nil && !s.only[i+1] {
			continue
		}
		var args []any
		if q.args != nil {
			for _, a := range q.args() {
				args = append(args, a)
			}
		}
		for _, side := range []struct {
			name string
			conn *pgx.Conn
		}{{"plain", plain}, {"enc, directly", enc}} {
			rows, err := side.conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q.sql, args...)
			if err != nil {
				return "", err
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "\n%s, %s:\n\n    %s\n", q.name, side.name, strings.Join(lines, "\n    "))
		}
	}
	return b.String(), nil
}

// loadAverage is /proc/loadavg's first three figures, or "?".
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
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

// memProfile samples every 4 KB allocated while the queries run and, at
// stop, writes the heap profile (its alloc_objects and alloc_space are
// the queries', phiguard's and the client's) to path; "" does nothing.
func memProfile(path string) (stop func() error) {
	if path == "" {
		return func() error { return nil }
	}
	prev := runtime.MemProfileRate
	runtime.MemProfileRate = 4096
	return func() error {
		defer func() { runtime.MemProfileRate = prev }()
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}
}
