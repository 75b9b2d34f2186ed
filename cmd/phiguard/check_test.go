package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// writeConfig writes a configuration naming a policy file and a backend.
func writeConfig(t *testing.T, policyFile, host string, port int) string {
	t.Helper()
	abs, err := filepath.Abs(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "phiguard.yml")
	cfg := "backend:\n  host: " + host + "\n  port: " + strconv.Itoa(port) + "\npolicy_file: " + abs + "\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCheckArgs(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = dispatch(append([]string{"check"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheckPolicy(t *testing.T) {
	good := writeConfig(t, "../../policy/testdata/synthea.good.yml", "127.0.0.1", 5432)
	code, out, errOut := runCheckArgs("--config", good)
	if code != 0 || !strings.Contains(out, "synthea.good.yml: OK (2 tables, 8 protected columns; version ") {
		t.Errorf("good policy: exit %d\n%s%s", code, out, errOut)
	}

	bad := writeConfig(t, "../../policy/testdata/missing-key.bad.yml", "127.0.0.1", 5432)
	code, out, errOut = runCheckArgs("--config", bad)
	if code != 1 {
		t.Errorf("bad policy: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		"missing-key.bad.yml: invalid policy:",
		"tables[public.patients].columns[ssn].key: is required",
		"tables[public.patients].columns[first].mode: is required",
		"tables[public.patients].columns[maiden]: has no settings",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("bad policy: output lacks %q:\n%s", w, errOut)
		}
	}

	// --policy alone, and overriding the configuration's file.
	code, _, errOut = runCheckArgs("--policy", "../../policy/testdata/unknown-key.bad.yml")
	if code != 1 || !strings.Contains(errOut, "tables[public.patients].colums: unknown key") {
		t.Errorf("--policy: exit %d\n%s", code, errOut)
	}
	code, out, _ = runCheckArgs("--config", bad, "--policy", "../../policy/testdata/minimal.good.yml")
	if code != 0 || !strings.Contains(out, "minimal.good.yml: OK") {
		t.Errorf("--policy overrides policy_file: exit %d\n%s", code, out)
	}

	// An invalid configuration and an invalid policy: both reported.
	both := filepath.Join(t.TempDir(), "both.yml")
	abs, _ := filepath.Abs("../../policy/testdata/unknown-mode.bad.yml")
	os.WriteFile(both, []byte("log:\n  level: loud\npolicy_file: "+abs+"\n"), 0o600)
	code, _, errOut = runCheckArgs("--config", both)
	if code != 1 || !strings.Contains(errOut, "log.level:") || !strings.Contains(errOut, `unknown mode "determinstic"`) {
		t.Errorf("both invalid: exit %d\n%s", code, errOut)
	}

	if code, _, errOut = runCheckArgs("--config", "../../config/testdata/minimal.good.yml", "--catalog"); code != 2 || !strings.Contains(errOut, "--catalog needs a policy file") {
		t.Errorf("--catalog without a policy: exit %d\n%s", code, errOut)
	}
}

// TestCheckCatalog runs `phiguard check --catalog` against a real
// PostgreSQL loaded with the demo schema.
func TestCheckCatalog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, conn := startDemoDB(t, ctx)

	good := writeConfig(t, "../../examples/policy.yml", cluster.Host, cluster.Port)
	code, out, errOut := runCheckArgs("--config", good, "--catalog")
	if code != 0 || !strings.Contains(out, "policy.yml: matches database postgres at "+cluster.Addr()) {
		t.Errorf("synthea example: exit %d\n%s%s", code, out, errOut)
	}
	checkCellsCatalog(t, ctx, conn, good, errOut)

	broken := filepath.Join(t.TempDir(), "broken.yml")
	os.WriteFile(broken, []byte(`version: 1
tables:
  public.patients:
    columns:
      ssn:       {mode: deterministic, key: ssn, type: text}
      birthdate: {mode: randomized, key: pii, type: text}
      nickname:  {mode: randomized, key: pii, type: text}
  public.patient:
    subject_column: id
`), 0o600)
	code, out, errOut = runCheckArgs("--config", writeConfig(t, broken, cluster.Host, cluster.Port), "--catalog")
	if code != 1 {
		t.Errorf("broken policy: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		"broken.yml: against database postgres at " + cluster.Addr() + ": invalid policy:",
		"tables[public.patient]: table public.patient does not exist in the database",
		"tables[public.patients].columns[birthdate].type: the column is date, which cannot hold encrypted cells",
		"tables[public.patients].columns[nickname]: column nickname does not exist in table public.patients",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("broken policy: output lacks %q:\n%s", w, errOut)
		}
	}

	// A wrong password is a failed check, not a skipped one.
	t.Setenv("PGPASSWORD", "wrong")
	code, _, errOut = runCheckArgs("--config", good, "--catalog")
	if code != 1 || !strings.Contains(errOut, "connect:") {
		t.Errorf("wrong password: exit %d\n%s", code, errOut)
	}
}

// TestCheckSearch: check prints each column with search, what its terms
// would reveal and that none is used yet, warns of order terms on
// per-subject columns, and refuses what §3 of the design refuses.
func TestCheckSearch(t *testing.T) {
	code, out, errOut := runCheckArgs("--policy", "../../policy/testdata/search.good.yml")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		"  public.patients.last  search: order, match  key patients-pii v1  state ready (accepted; writes the terms; =, ranges and BETWEEN search through them)\n" +
			"    reveals: total order and shared leading letters (order); trigram sets, first letters (match); docs/design/search-terms.md §6\n",
		"  public.patients.birthdate  search: order  key patients-pii v1  state building (accepted; writes the terms and searches through none until search_state: ready)",
		"    reveals: total order and approximate distances (order); docs/design/search-terms.md §6\n",
		"  public.patients.ssn  search: equality  key ssn v3  state rekeying (accepted; writes terms of v3; = and IN search through the equality terms of every loaded version of key ssn; ranges, BETWEEN and ORDER BY run in phiguard",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "weight") {
		t.Errorf("a column without search is listed:\n%s", out)
	}
	if !strings.Contains(errOut, "warning: order term on per-subject column public.patients.last:") ||
		strings.Contains(errOut, "public.patients.mrn") || strings.Contains(errOut, "public.patients.ssn") {
		t.Errorf("per-subject order warnings:\n%s", errOut)
	}
	code, _, errOut = runCheckArgs("--policy", "../../policy/testdata/search-state.bad.yml")
	if code != 1 || !strings.Contains(errOut, "tables[public.patients].columns[first].search_state: rekeying needs state: encrypted") {
		t.Errorf("search-state.bad.yml: exit %d\n%s", code, errOut)
	}
}

// checkCellsCatalog: check --catalog warns of every encrypted column
// without its cells-only CHECK (the demo database is plaintext: none has
// one) or with it not validated, and fails on a constraint of its name
// that is not phiguard's.
func checkCellsCatalog(t *testing.T, ctx context.Context, conn *pgx.Conn, cfg, errOut string) {
	t.Helper()
	if !strings.Contains(errOut, "warning: no cells-only CHECK on public.patients.ssn, public.patients.passport,") {
		t.Fatalf("no warning of the missing cells-only CHECK:\n%s", errOut)
	}
	if _, err := conn.Exec(ctx, "ALTER TABLE public.patients ADD CONSTRAINT phiguard_ssn_cells CHECK (true)"); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCheckArgs("--config", cfg, "--catalog")
	if code != 1 || !strings.Contains(errOut, "public.patients.ssn: the constraint phiguard_ssn_cells is not phiguard's cells-only CHECK") {
		t.Fatalf("a CHECK (true) of the name: exit %d\n%s", code, errOut)
	}
	pol, err := sqlrewrite.LoadPolicy("../../examples/policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := pol.Table("public", "patients")
	ssn, _ := pt.Column("ssn")
	if _, err := conn.Exec(ctx, "ALTER TABLE public.patients DROP CONSTRAINT phiguard_ssn_cells; ALTER TABLE public.patients ADD CONSTRAINT phiguard_ssn_cells CHECK ("+
		cellcheck.Expr(ssn)+") NOT VALID"); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCheckArgs("--config", cfg, "--catalog")
	if code != 0 || !strings.Contains(errOut, "warning: cells-only CHECK not validated on public.patients.ssn:") ||
		!strings.Contains(errOut, "no cells-only CHECK on public.patients.passport,") {
		t.Fatalf("phiguard's CHECK, not validated: exit %d\n%s", code, errOut)
	}
	if _, err := conn.Exec(ctx, "ALTER TABLE public.patients DROP CONSTRAINT phiguard_ssn_cells"); err != nil {
		t.Fatal(err)
	}
}
