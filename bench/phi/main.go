package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phiguard/phiguard/bench/internal/benchkit"
	"github.com/phiguard/phiguard/sqlrewrite"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/integration/vaultemu"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/vault"
	"github.com/phiguard/phiguard/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

const workload = `\set id random(1, 1000000000)
\set ssn random(100000000, 999999999)
BEGIN;
INSERT INTO phi_patients (id, ssn, first, last, birthdate, note) VALUES (:id, :ssn, 'Alice', 'Smith', '1980-02-29', 'n') ON CONFLICT (id) DO NOTHING;
SELECT id, first, last FROM phi_patients WHERE ssn = :ssn;
UPDATE phi_patients SET last = 'Jones' WHERE id = :id;
SELECT ssn, first, last, birthdate FROM phi_patients WHERE id = :id;
END;
`

const policyYAML = `version: 1
tables:
  public.phi_patients:
    columns:
      ssn:       {mode: deterministic, key: bench-ssn, type: text}
      first:     {mode: randomized,    key: bench-pii, type: text}
      last:      {mode: randomized,    key: bench-pii, type: text}
      birthdate: {mode: randomized,    key: bench-pii, type: date}
`

// rolesYAML adds a role for the benchmark's user with a row rule in the
// style of a clinician's care-team rule: a subquery on another table keyed
// by current_user. Every row the workload writes passes it, so the
// workload does the same work with the rule on; the difference is the cost
// of the rule (the rewrite, the fence, the write check, the subquery).
const rolesYAML = `
roles:
  ward_staff:
    users: [postgres]
    other_columns: plaintext
    rows:
      public.phi_patients: "note IN (SELECT ward FROM phi_wards WHERE staff = current_user)"
`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "phi bench:", err)
		os.Exit(1)
	}
}

func run() error {
	if os.Getenv("BENCH_MEMPROFILE") != "" {
		// Every allocation, not a sample: the small ones of the hot path
		// are what the profile is for (and timing is off meanwhile).
		runtime.MemProfileRate = 1
	}
	seconds, reps, clients := benchkit.EnvInt("BENCH_SECONDS", 10), benchkit.EnvInt("BENCH_REPS", 3), benchkit.EnvInt("BENCH_CLIENTS", 8)
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		out = "bench/phi-last-run.md"
	}
	ctx := context.Background()
	settings := map[string]string{"max_connections": "100"}
	durability := "off (test cluster)"
	if os.Getenv("BENCH_PG_DURABLE") != "" {
		// As a production database runs: every commit is flushed, so the
		// audit trail's own fsyncs compete with PostgreSQL's, not with none.
		settings["fsync"], settings["synchronous_commit"], settings["full_page_writes"] = "on", "on", "on"
		durability = "on (fsync, synchronous_commit, full_page_writes)"
	}
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Settings: settings})
	if err != nil {
		return err
	}
	defer pg.Stop()
	if err := pg.Exec(ctx, `CREATE TABLE phi_patients (id bigint PRIMARY KEY, ssn text, first text, last text, birthdate text, note text);
		CREATE INDEX ON phi_patients (ssn);
		CREATE TABLE phi_wards (staff text, ward text, PRIMARY KEY (staff, ward));
		INSERT INTO phi_wards VALUES ('postgres', 'n'), ('someone_else', 'm')`); err != nil {
		return err
	}

	// Keys in the Vault emulator, through the real keys/vault provider.
	emu := vaultemu.New(vaultemu.Options{RootToken: "bench-root"})
	emu.CreateTransitKey("phiguard")
	vsrv := emu.Start()
	defer vsrv.Close()
	reg := prometheus.NewRegistry()
	provider, err := vault.New(vault.Config{Address: vsrv.URL, Token: keys.NewSecret([]byte("bench-root")), Registerer: reg})
	if err != nil {
		return err
	}
	if _, err := provider.Init(ctx, []string{"bench-ssn", "bench-pii"}); err != nil {
		return err
	}
	before := vaultRequests(reg)
	kr, err := provider.Load(ctx)
	if err != nil {
		return err
	}
	atLoad := vaultRequests(reg) - before
	pol, err := sqlrewrite.ParsePolicy([]byte(policyYAML))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		return err
	}

	prot := &guard.Protection{Policy: pol, Keyring: kr}
	rolePol, err := sqlrewrite.ParsePolicy([]byte(policyYAML + rolesYAML))
	if err == nil {
		err = rolePol.Validate()
	}
	if err != nil {
		return err
	}
	ruledProt := &guard.Protection{Policy: rolePol, Keyring: kr}
	plain, err := benchkit.StartProxy(pg)
	if err != nil {
		return err
	}
	protected, err := benchkit.StartProxy(pg, proxy.WithProtection(prot))
	if err != nil {
		return err
	}
	// The same protection with the audit trail on, to a file sink with
	// fsync after every write, as serve runs it by default.
	auditDir, err := os.MkdirTemp("", "phi-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(auditDir)
	cfgAudit := config.DefaultAudit()
	cfgAudit.Dir = auditDir
	if f := os.Getenv("BENCH_AUDIT_FSYNC"); f != "" {
		cfgAudit.Fsync = f
	}
	if d, err := time.ParseDuration(os.Getenv("BENCH_AUDIT_BATCH_DELAY")); err == nil {
		cfgAudit.BatchDelay = config.Duration(d)
	}
	auditor, err := audit.Open(cfgAudit, audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(make([]byte, 32))}, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer auditor.Close(ctx)
	audited, err := benchkit.StartProxy(pg, proxy.WithProtection(prot), proxy.WithAuditor(auditor))
	if err != nil {
		return err
	}
	ruled, err := benchkit.StartProxy(pg, proxy.WithProtection(ruledProt))
	if err != nil {
		return err
	}
	script := filepath.Join(os.TempDir(), fmt.Sprintf("phi-%d.sql", os.Getpid()))
	if err := os.WriteFile(script, []byte(workload), 0o644); err != nil {
		return err
	}
	defer os.Remove(script)

	// A short unmeasured run of each target first: the first pgbench
	// against a fresh cluster runs at a third of the speed of the next
	// (whichever target it is), and would count against that target.
	for _, addr := range []string{plain, protected, audited, ruled} {
		if _, _, err := pgbench(addr, pg, script, clients, 3); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	results := map[string][]float64{}
	cpu, txns := map[string]cpuUse{}, map[string]int{}
	afterLoad := vaultRequests(reg)
	for rep := 0; rep < reps; rep++ {
		order := []string{"plain", "protected", "audited", "ruled"}
		for i := 0; i < rep%4; i++ { // rotate the order each repetition
			order = append(order[1:], order[0])
		}
		for _, name := range order {
			addr := map[string]string{"plain": plain, "protected": protected, "audited": audited, "ruled": ruled}[name]
			// Each target starts from the same state: no dead rows left
			// for its window's autovacuum, no checkpoint due in it.
			for _, q := range []string{"VACUUM phi_patients", "CHECKPOINT"} { // VACUUM runs alone
				if err := pg.Exec(ctx, q); err != nil {
					return err
				}
			}
			stopProfile := profile(name)
			before := sampleCPU(pg.DataDir)
			tps, n, err := pgbench(addr, pg, script, clients, seconds)
			time.Sleep(200 * time.Millisecond) // the postmaster reaps the backends
			cpu[name] = cpu[name].add(sampleCPU(pg.DataDir).sub(before))
			txns[name] += n
			stopProfile()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Fprintf(os.Stderr, "rep %d/%d %s: %.0f tps\n", rep+1, reps, name, tps)
			results[name] = append(results[name], tps)
		}
	}
	duringRun := vaultRequests(reg) - afterLoad
	var rows int
	conn := exec.Command("psql", "-X", "-A", "-t", "-c", "SELECT count(*) FROM phi_patients", pg.URL(pg.Superuser, "", "postgres"))
	conn.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	if b, err := conn.Output(); err == nil {
		rows, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}

	mp, mr, ma, mu := median(results["plain"]), median(results["protected"]), median(results["audited"]), median(results["ruled"])
	auditor.Close(ctx)
	auditBytes, auditRecords := auditSize(auditDir)
	report := fmt.Sprintf(`# PHI workload: protected vs plain columns through phiguard

pgbench -M prepared -c %d -j 2 -T %d, %d repetitions alternating; transaction: INSERT,
SELECT by deterministic ssn, UPDATE, SELECT on phi_patients with 4 protected columns
(ssn deterministic; first, last, birthdate randomized). Keys: keys/vault against the
Vault emulator. PostgreSQL durability %s. %s, %d CPUs, %s.

| | median TPS | runs |
|---|---:|---|
| plain (no policy) | %.0f | %v |
| protected | %.0f | %v |
| protected + audit (file, fsync %s, batch delay %s) | %.0f | %v |
| protected + row rule (role with a care-team style rule) | %.0f | %v |

protected / plain = **%.2f**; audited / protected = **%.2f**; row rule / protected = **%.2f**

Audit trail: %d records, %d bytes (%.0f bytes per record).

Paired protected / plain per repetition: %s.

CPU per transaction (µs), all repetitions (phiguard: this process, which runs the
proxies; PostgreSQL: backends and autovacuum workers, as the postmaster reaps them):

| | phiguard | PostgreSQL | pgbench | total | phiguard reads / writes (system calls) | phiguard heap allocations |
|---|---:|---:|---:|---:|---:|---:|
| plain | %s |
| protected | %s |
| protected + audit | %s |
| protected + row rule | %s |

Vault requests: %.0f to load 2 keys at start-up; %.0f during the run, which wrote %d rows.
`, clients, seconds, reps, durability, time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(),
		mp, round(results["plain"]), mr, round(results["protected"]), cfgAudit.Fsync, cfgAudit.BatchDelay.Std(), ma, round(results["audited"]), mu, round(results["ruled"]), mr/mp, ma/mr, mu/mr,
		auditRecords, auditBytes, float64(auditBytes)/float64(max(auditRecords, 1)),
		pairedRatios(results["protected"], results["plain"]),
		cpu["plain"].perTransaction(txns["plain"]), cpu["protected"].perTransaction(txns["protected"]),
		cpu["audited"].perTransaction(txns["audited"]), cpu["ruled"].perTransaction(txns["ruled"]),
		atLoad, duringRun, rows)
	fmt.Print(report)
	return os.WriteFile(out, []byte(report), 0o644)
}

var (
	tpsLine  = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	txnsLine = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

// pairedRatios is a/b for each repetition.
func pairedRatios(a, b []float64) string {
	var out []string
	for i := range min(len(a), len(b)) {
		out = append(out, fmt.Sprintf("%.2f", a[i]/b[i]))
	}
	return strings.Join(out, ", ")
}

// pgbench runs the workload against addr and returns its TPS and the
// number of transactions it ran.
func pgbench(addr string, pg *pgcluster.Cluster, script string, clients, seconds int) (float64, int, error) {
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("pgbench", "-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", "2",
		"-T", strconv.Itoa(seconds), "-f", script, "-h", host, "-p", port, "-U", pg.Superuser, "postgres")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("pgbench: %v\n%s", err, b)
	}
	if strings.Contains(string(b), "number of failed transactions: ") && !strings.Contains(string(b), "number of failed transactions: 0 ") {
		return 0, 0, fmt.Errorf("pgbench reported failed transactions:\n%s", b)
	}
	m, n := tpsLine.FindSubmatch(b), txnsLine.FindSubmatch(b)
	if m == nil || n == nil {
		return 0, 0, fmt.Errorf("no tps or transaction count in pgbench output:\n%s", b)
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	txns, _ := strconv.Atoi(string(n[1]))
	return tps, txns, err
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func round(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x + 0.5)
	}
	return out
}

// vaultRequests sums phiguard_keys_vault_requests_total over operations.
func vaultRequests(g prometheus.Gatherer) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return -1
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "phiguard_keys_vault_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

// profile writes a CPU profile of the protected runs to $BENCH_CPUPROFILE,
// for finding where protection costs time, and the allocations made by then
// to $BENCH_MEMPROFILE, with those made before the runs to
// $BENCH_MEMPROFILE.before (`go tool pprof -diff_base` of the two shows
// the runs' own).
func profile(name string) func() {
	path := os.Getenv("BENCH_CPUPROFILE")
	target := os.Getenv("BENCH_PROFILE_TARGET")
	if target == "" {
		target = "protected"
	}
	if path == "" || name != target {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	if mem := os.Getenv("BENCH_MEMPROFILE"); mem != "" {
		writeAllocProfile(mem + ".before")
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		writeAllocProfile(os.Getenv("BENCH_MEMPROFILE"))
	}
}

// writeAllocProfile writes the allocations made so far to path (if set),
// for `go tool pprof -sample_index=alloc_space`: allocation is a large
// part of what protection costs.
func writeAllocProfile(path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	runtime.GC() // the profile is as of the last GC: bring it up to now
	_ = pprof.Lookup("allocs").WriteTo(f, 0)
}

// auditSize totals the audit files' bytes and lines.
func auditSize(dir string) (bytes int64, records int) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		bytes += int64(len(b))
		records += strings.Count(string(b), "\n")
	}
	return bytes, records
}
