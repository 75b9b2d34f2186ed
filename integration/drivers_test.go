package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// The driver matrix (issue 12, docs/drivers.md): each client driver runs
// the same workload twice, once straight to PostgreSQL on plaintext
// tables and once through phiguard on the same tables with ssn
// (deterministic), name, birthdate, balance and visits (randomized)
// encrypted. Its outputs, values and the result columns' type OIDs as the
// driver reports them, must be identical, and the encrypted tables must
// hold ciphertext at rest. The workload is written once per language under
// integration/drivers/; pgx and lib/pq run it as Go (drivers_go_test.go).

// driverColumns is the matrix's table; the plaintext twin has the types,
// the encrypted one stores each protected column as text.
var driverColumns = []twinColumn{
	{"id", "serial PRIMARY KEY", ""},
	{"ssn", "text", "{mode: deterministic, key: drivers-ssn, type: text}"},
	{"name", "text", "{mode: randomized, key: drivers-pii, type: text}"},
	{"birthdate", "date", "{mode: randomized, key: drivers-pii, type: date}"},
	{"balance", "numeric(12,2)", "{mode: randomized, key: drivers-pii, type: \"numeric(12,2)\"}"},
	{"visits", "integer", "{mode: randomized, key: drivers-pii, type: integer}"},
	{"note", "text", ""},
}

// matrixDriver is one driver of the matrix and the modes it runs in.
type matrixDriver struct {
	name  string
	modes []string
	// tool says what the driver needs; it returns a description of what
	// is missing, or "".
	tool func() string
	// run runs the workload in every mode on tables prefix_MODE through
	// connection parameters cp and returns what it printed.
	run func(t *testing.T, cp connParams, prefix string, modes []string) (string, error)
}

// connParams is where a driver connects: PostgreSQL or phiguard.
type connParams struct {
	host string
	port int
}

// pgEnv is cp as libpq's environment variables, for the programs.
func (cp connParams) pgEnv(prefix string) []string {
	return append(os.Environ(),
		"PGHOST="+cp.host, fmt.Sprintf("PGPORT=%d", cp.port), "PGUSER="+appUser,
		"PGPASSWORD="+appPassword, "PGDATABASE="+appDB, "PGSSLMODE=disable",
		"PGCONNECT_TIMEOUT=10", "DRIVER_TABLE_PREFIX="+prefix,
		// Not UTC: pgjdbc sets the session TimeZone from it, node-postgres
		// writes a Date with its offset.
		"TZ=America/New_York")
}

// matrixTables are a driver's table names: the plaintext prefix, the
// encrypted prefix, and the policy YAML for the encrypted ones.
func matrixTables(t *testing.T, driver string, modes []string) (plain, enc string, policyYAML string) {
	t.Helper()
	ident := strings.ReplaceAll(driver, "-", "_")
	plain, enc = uniqueName("drv_"+ident+"_plain"), uniqueName("drv_"+ident+"_enc")
	ctx := testContext(t)
	conn := direct(t)
	var plainCols, encCols, pol []string
	for _, c := range driverColumns {
		plainCols = append(plainCols, c.name+" "+c.typ)
		if c.policy == "" {
			encCols = append(encCols, c.name+" "+c.typ)
			continue
		}
		encCols = append(encCols, c.name+" text")
		pol = append(pol, fmt.Sprintf("      %s: %s", c.name, c.policy))
	}
	var yaml strings.Builder
	for _, m := range modes {
		for _, table := range []string{plain + "_" + m, enc + "_" + m} {
			cols := plainCols
			if strings.HasPrefix(table, enc) {
				cols = encCols
				fmt.Fprintf(&yaml, "  public.%s:\n    columns:\n%s\n", table, strings.Join(pol, "\n"))
			}
			if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", table, strings.Join(cols, ", "))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return plain, enc, yaml.String()
}

// TestDriverMatrix runs every driver of driverMatrix in every mode with
// encryption on. A driver whose runtime is missing fails under CI=true
// (.ci/run installs it) and skips otherwise.
func TestDriverMatrix(t *testing.T) {
	t.Parallel()
	drivers := driverMatrix()
	type prepared struct {
		d          matrixDriver
		plain, enc string
	}
	var ready []prepared
	var policyYAML strings.Builder
	policyYAML.WriteString("version: 1\ntables:\n")
	for _, d := range drivers {
		plain, enc, yaml := matrixTables(t, d.name, d.modes)
		policyYAML.WriteString(yaml)
		ready = append(ready, prepared{d, plain, enc})
	}
	p := startProxy(t, proxyOptions{protect: protection(t, policyYAML.String()), quiet: true})
	viaPG := connParams{host: pg.Host, port: pg.Port}
	viaProxy := connParams{host: "127.0.0.1", port: p.addr.Port}
	var summary strings.Builder
	t.Cleanup(func() { t.Logf("driver matrix, wall time per driver (both sides):\n%s", summary.String()) })
	for _, r := range ready {
		t.Run(r.d.name, func(t *testing.T) {
			if missing := r.d.tool(); missing != "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s (.ci/run installs it)", missing)
				}
				t.Skip(missing)
			}
			start := time.Now()
			want, err := r.d.run(t, viaPG, r.plain, r.d.modes)
			if err != nil {
				t.Fatalf("directly on plaintext tables: %v\n%s", err, want)
			}
			got, err := r.d.run(t, viaProxy, r.enc, r.d.modes)
			if err != nil {
				t.Fatalf("through phiguard on encrypted tables: %v\n%s", err, got)
			}
			if os.Getenv("DRIVER_MATRIX_SHOW") != "" {
				t.Logf("through phiguard:\n%s", got)
			}
			compareDriverOutput(t, got, want)
			for _, m := range r.d.modes {
				checkAtRest(t, r.plain+"_"+m, r.enc+"_"+m)
			}
			took := time.Since(start).Round(10 * time.Millisecond)
			t.Logf("%s: %d modes passed in %s (both sides)", r.d.name, len(r.d.modes), took)
			fmt.Fprintf(&summary, "  %-14s %-90s %s\n", r.d.name, strings.Join(r.d.modes, ","), took)
		})
	}
}

// compareDriverOutput fails on the first mode whose output differs.
func compareDriverOutput(t *testing.T, got, want string) {
	t.Helper()
	if got == want {
		if !strings.Contains(want, "select-all") {
			t.Fatalf("the workload printed no final read:\n%s", want)
		}
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("line %d differs:\nthrough phiguard: %s\ndirectly:         %s\n\nwhole output through phiguard:\n%s", i+1, gl, wl, got)
		}
	}
}

// checkAtRest compares the encrypted table, read straight from
// PostgreSQL, with its plaintext twin: same ids and plaintext note, and in
// every protected column NULL where the twin has NULL and a ciphertext
// cell (not the plaintext) elsewhere.
func checkAtRest(t *testing.T, plain, enc string) {
	t.Helper()
	ctx := testContext(t)
	conn := direct(t)
	const cols = "id, ssn::text, name::text, birthdate::text, balance::text, visits::text, note"
	read := func(table string) [][]*string {
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY id", cols, table))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out [][]*string
		for rows.Next() {
			var id int
			vals := make([]*string, 6)
			if err := rows.Scan(&id, &vals[0], &vals[1], &vals[2], &vals[3], &vals[4], &vals[5]); err != nil {
				t.Fatal(err)
			}
			idText := fmt.Sprint(id)
			out = append(out, append([]*string{&idText}, vals...))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	pr, er := read(plain), read(enc)
	if len(pr) != len(er) || len(pr) == 0 {
		t.Fatalf("%s holds %d rows, its plaintext twin %d", enc, len(er), len(pr))
	}
	for i := range pr {
		for c := range pr[i] {
			p, e := pr[i][c], er[i][c]
			if c == 0 || c == 6 {
				if fmt.Sprint(deref(p)) != fmt.Sprint(deref(e)) {
					t.Fatalf("%s row %d: plaintext column %d is %v, twin %v", enc, i, c, deref(e), deref(p))
				}
				continue
			}
			if (p == nil) != (e == nil) {
				t.Fatalf("%s row id %s column %d: NULL-ness differs from the plaintext twin", enc, *pr[i][0], c)
			}
			// A short plaintext ("3") may well occur in base64 by chance.
			if e != nil && (!keys.IsCell([]byte(*e)) || *e == *p || len(*p) >= 6 && strings.Contains(*e, *p)) {
				t.Fatalf("%s row id %s column %d is not ciphertext at rest", enc, *pr[i][0], c)
			}
		}
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// runProgram runs an external driver program with cp's environment.
func runProgram(t *testing.T, cp connParams, prefix string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = cp.pgEnv(prefix)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v\n%s", name, err, stderr.String())
	}
	return string(out), nil
}

// missingCommand reports a missing executable.
func missingCommand(name, pkg string) string {
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Sprintf("%s is not installed (Debian package %s)", name, pkg)
	}
	return ""
}
