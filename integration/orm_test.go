package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// ormColumns are the PII columns the ORM workloads' models declare
// (integration/orm), with the policy that encrypts them. Both ORMs name
// their tables patient, visit and address, each in its own database.
var ormColumns = []struct{ table, column, policy string }{
	{"patient", "name", "{mode: randomized, key: orm-pii, type: varchar(100)}"},
	{"patient", "ssn", "{mode: deterministic, key: orm-ssn, type: varchar(11)}"},
	{"patient", "birthdate", "{mode: randomized, key: orm-pii, type: date}"},
	{"patient", "balance", "{mode: randomized, key: orm-pii, type: 'numeric(12,2)'}"},
	{"patient", "mrn", "{mode: deterministic, key: orm-mrn, type: bigint}"},
	{"patient", "registered", "{mode: randomized, key: orm-pii, type: timestamptz}"},
	{"visit", "notes", "{mode: randomized, key: orm-pii, type: text}"},
	{"address", "street", "{mode: randomized, key: orm-pii, type: varchar(100)}"},
}

// ormRefused are the workload steps phiguard refuses, by ORM and step, with
// the SQLSTATE it must refuse them with (never a different answer). Each
// runs in a transaction both sides roll back, so the steps after it start
// from the same rows. docs/orm.md says why each is refused.
var ormRefused = map[string]string{}

func ormPolicy() string {
	byTable := map[string][]string{}
	for _, c := range ormColumns {
		byTable[c.table] = append(byTable[c.table], fmt.Sprintf("      %s: %s", c.column, c.policy))
	}
	var b strings.Builder
	b.WriteString("version: 1\ntables:\n")
	for _, table := range []string{"patient", "visit", "address"} {
		fmt.Fprintf(&b, "  public.%s:\n    columns:\n%s\n", table, strings.Join(byTable[table], "\n"))
	}
	return b.String()
}

// ormPython is the Python that has both ORMs and psycopg2 (the Debian
// packages python3-django, python3-sqlalchemy, python3-psycopg2). Without
// them the test skips, and fails under CI=true.
func ormPython(t *testing.T) string {
	t.Helper()
	const python = "/usr/bin/python3"
	out, err := exec.Command(python, "-c", "import django, sqlalchemy, psycopg2").CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("%s cannot import django, sqlalchemy and psycopg2 (Debian: python3-django python3-sqlalchemy python3-psycopg2): %v\n%s", python, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return python
}

// TestORMOnEncryptedPII runs the Django and the SQLAlchemy workload
// (integration/orm: create with related rows, read, filter by equality on
// the deterministic ssn and on plaintext columns, update, bulk create,
// delete, counts) twice: straight to PostgreSQL on the ORM's own schema,
// and through phiguard on the same schema with the PII columns encrypted
// (text at rest). Every step's result must be identical, and the PII
// columns must hold only ciphertext at rest.
func TestORMOnEncryptedPII(t *testing.T) {
	t.Parallel()
	python := ormPython(t)
	p := startProxy(t, proxyOptions{protect: protection(t, ormPolicy()), quiet: true})
	for _, orm := range []string{"django", "sqlalchemy"} {
		t.Run(orm, func(t *testing.T) {
			t.Parallel()
			script := "orm/" + orm + "_workload.py"
			plainDB, encDB := ormDatabase(t, python, script, orm+"_plain"), ormDatabase(t, python, script, orm+"_enc")
			encryptORMColumns(t, encDB)

			start := time.Now()
			want := runORM(t, python, script, directURL(appUser, appPassword, plainDB), orm+"-direct")
			direct := time.Since(start)
			start = time.Now()
			got := runORM(t, python, script, p.url(appUser, appPassword, encDB), orm+"-phiguard")
			t.Logf("%s workload: %s directly, %s through phiguard", orm, direct.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

			diffs, refused := compareORMSteps(orm, want, got)
			for _, d := range diffs {
				t.Error(d)
			}
			t.Logf("%s: %d steps, %d identical, %d refused with 0A000 %q, %d differences",
				orm, len(want), len(want)-len(refused)-len(diffs), len(refused), refused, len(diffs))
			checkORMCiphertext(t, encDB)
		})
	}
}

// ormDatabase creates a database owned by the application user and the
// ORM's tables in it, made by the ORM itself straight on PostgreSQL.
func ormDatabase(t *testing.T, python, script, prefix string) string {
	t.Helper()
	db := uniqueName("orm_" + prefix)
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, appUser)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testContext(t), python, script, "schema")
	cmd.Env = ormEnv(directURL(appUser, appPassword, db))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s schema: %v\n%s", script, err, out)
	}
	return db
}

// ormEnv is a workload's environment: where to connect, and no
// __pycache__ left in the source tree.
func ormEnv(url string) []string {
	return append(os.Environ(), "PHIGUARD_ORM_URL="+url, "PYTHONDONTWRITEBYTECODE=1")
}

// encryptORMColumns turns the PII columns of db into the text columns
// that hold cells (the tables are empty; phiguard encrypt would do the same
// to a filled table).
func encryptORMColumns(t *testing.T, db string) {
	t.Helper()
	conn := connect(t, directURL(appUser, appPassword, db))
	for _, c := range ormColumns {
		if _, err := conn.Exec(testContext(t), fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE text", c.table, c.column)); err != nil {
			t.Fatal(err)
		}
	}
}

// runORM runs a workload against url and returns each step's result.
// With PHIGUARD_ORM_OUT set, the output is also written there as name.json
// and its stderr as name.log (PHIGUARD_ORM_SQL=1 logs every statement).
func runORM(t *testing.T, python, script, url, name string) map[string]json.RawMessage {
	t.Helper()
	cmd := exec.CommandContext(testContext(t), python, script, "run")
	cmd.Env = ormEnv(url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s run: %v\n%s", script, err, stderr.Bytes())
	}
	if dir := os.Getenv("PHIGUARD_ORM_OUT"); dir != "" {
		for file, b := range map[string][]byte{name + ".json": out, name + ".log": stderr.Bytes()} {
			if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var steps map[string]json.RawMessage
	if err := json.Unmarshal(out, &steps); err != nil {
		t.Fatalf("%s run: %v\n%s", script, err, out)
	}
	if len(steps) == 0 {
		t.Fatalf("%s run: no steps", script)
	}
	return steps
}

// compareORMSteps describes every step whose result differs, every step
// that failed even straight to PostgreSQL (the workload is wrong), and
// every step of ormRefused that phiguard did not refuse as it says. A
// probe (a step named "probe ...") must be identical or refused with
// 0A000, never another answer. refused names the steps refused as allowed.
func compareORMSteps(orm string, want, got map[string]json.RawMessage) (diffs, refused []string) {
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		w, g := want[name], got[name]
		code, listed := ormRefused[orm+"/"+name]
		probe := strings.HasPrefix(name, "probe ")
		switch {
		case failed(w) != "":
			diffs = append(diffs, fmt.Sprintf("step %q failed straight to PostgreSQL: %s", name, w))
		case listed && failed(g) != code:
			diffs = append(diffs, fmt.Sprintf("step %q: want phiguard's refusal %s (ormRefused), got %s", name, code, g))
		case listed || probe && failed(g) == "0A000":
			refused = append(refused, name)
		case !bytes.Equal(w, g):
			diffs = append(diffs, fmt.Sprintf("step %q differs\nthrough phiguard: %s\ndirectly:         %s", name, g, w))
		}
	}
	if len(got) != len(want) {
		diffs = append(diffs, fmt.Sprintf("%d steps through phiguard, %d directly", len(got), len(want)))
	}
	return diffs, refused
}

// failed is the SQLSTATE of the error a step's result records (common.py),
// "-" for an error without one, "" when the step succeeded.
func failed(result json.RawMessage) string {
	var r struct {
		Error *struct{ SQLState string }
	}
	switch {
	case json.Unmarshal(result, &r) != nil || r.Error == nil:
		return ""
	case r.Error.SQLState == "":
		return "-"
	}
	return r.Error.SQLState
}

// checkORMCiphertext checks that every PII cell of db is ciphertext and
// that the workload left some in each column.
func checkORMCiphertext(t *testing.T, db string) {
	t.Helper()
	conn := connect(t, directURL(appUser, appPassword, db))
	for _, c := range ormColumns {
		rows, err := conn.Query(testContext(t), fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NOT NULL", c.column, c.table, c.column))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			if !keys.IsCell([]byte(v)) {
				t.Errorf("%s.%s holds plaintext at rest", c.table, c.column)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s.%s: no value at rest to check", c.table, c.column)
		}
	}
}
