package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const psqlBin = "/usr/bin/psql"

// libpqEnv is the environment of a libpq program connecting as the
// application user to addr: the password goes in PGPASSWORD, never on the
// command line, and nothing from the developer's own environment leaks in.
func libpqEnv(t testing.TB, host string, port int, tls bool) []string {
	env := []string{
		"PATH=/usr/bin:/bin",
		"LC_ALL=C",
		"HOME=" + t.TempDir(),
		"PGHOST=" + host,
		fmt.Sprintf("PGPORT=%d", port),
		"PGUSER=" + appUser,
		"PGPASSWORD=" + appPassword,
		"PGDATABASE=" + appDB,
		"PGCONNECT_TIMEOUT=10",
	}
	if tls {
		env = append(env, "PGSSLMODE=verify-full", "PGSSLROOTCERT="+pg.CAFile)
	} else {
		env = append(env, "PGSSLMODE=disable")
	}
	return env
}

type cmdResult struct {
	stdout, stderr string
	exit           int
}

func runCmd(t testing.TB, env []string, dir, bin string, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cmdResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.exit = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", bin, err)
	}
	return res
}

// psqlBoth runs psql with the same arguments in the same directory through
// phiguard (client TLS, verify-full) and directly, and requires the same
// output, errors and exit status.
func psqlBoth(t *testing.T, p *phiguard, dir string, args ...string) cmdResult {
	t.Helper()
	args = append([]string{"-X", "--no-psqlrc"}, args...)
	got := runCmd(t, libpqEnv(t, p.addr.IP.String(), p.addr.Port, true), dir, psqlBin, args...)
	want := runCmd(t, libpqEnv(t, pg.Host, pg.Port, false), dir, psqlBin, args...)
	if got != want {
		t.Fatalf("psql %s differs through phiguard.\nphiguard (exit %d):\n%s\n%s\nPostgreSQL (exit %d):\n%s\n%s",
			strings.Join(args, " "), got.exit, got.stdout, got.stderr, want.exit, want.stdout, want.stderr)
	}
	return got
}

func TestPsql(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{clientTLS: true})

	t.Run("script continues after an error", func(t *testing.T) {
		dir := t.TempDir()
		script := `CREATE TEMP TABLE s (id int PRIMARY KEY, name text);
INSERT INTO s VALUES (1, 'one'), (2, 'two');
INSERT INTO s VALUES (1, 'duplicate');
SELECT * FROM no_such_table;
INSERT INTO s VALUES (3, 'three');
SELECT id, name FROM s ORDER BY id;
\echo done
BEGIN;
SELECT 1/0;
SELECT 'in an aborted transaction';
ROLLBACK;
SELECT count(*) AS rows FROM s;
DO $$BEGIN RAISE NOTICE 'notice from psql'; END$$;
SET application_name = 'psql script';
SHOW application_name;
SELECT repeat('x', 40000) IS NOT NULL AS big;
`
		if err := os.WriteFile(filepath.Join(dir, "script.sql"), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		res := psqlBoth(t, p, dir, "-v", "ON_ERROR_STOP=0", "-f", "script.sql")
		for _, want := range []string{"three", "done", "psql script"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("stdout lacks %q: the script stopped early?\n%s", want, res.stdout)
			}
		}
		for _, want := range []string{"duplicate key", "no_such_table", "division by zero", "current transaction is aborted", "NOTICE:  notice from psql"} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
			}
		}
		if res.exit != 0 {
			t.Errorf("exit %d with ON_ERROR_STOP=0", res.exit)
		}
	})

	t.Run("copy in and out", func(t *testing.T) {
		dir := t.TempDir()
		var in strings.Builder
		for i := range 20000 {
			fmt.Fprintf(&in, "%d,\"value, %d\",%s\n", i, i, strings.Repeat("z", i%50))
		}
		if err := os.WriteFile(filepath.Join(dir, "in.csv"), []byte(in.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		script := `CREATE TEMP TABLE c (id int, v text, pad text);
\copy c FROM 'in.csv' WITH (FORMAT csv)
\copy (SELECT * FROM c ORDER BY id) TO 'out.csv' WITH (FORMAT csv)
SELECT count(*) FROM c;
`
		if err := os.WriteFile(filepath.Join(dir, "copy.sql"), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		env := libpqEnv(t, p.addr.IP.String(), p.addr.Port, true)
		res := runCmd(t, env, dir, psqlBin, "-X", "-v", "ON_ERROR_STOP=1", "-f", "copy.sql")
		if res.exit != 0 {
			t.Fatalf("exit %d: %s", res.exit, res.stderr)
		}
		if !strings.Contains(res.stdout, "COPY 20000") || !strings.Contains(res.stdout, "20000") {
			t.Errorf("stdout:\n%s", res.stdout)
		}
		out, err := os.ReadFile(filepath.Join(dir, "out.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != in.String() {
			t.Errorf("\\copy out (%d bytes) differs from what \\copy in read (%d bytes)", len(out), in.Len())
		}
	})

	t.Run("-c with several statements", func(t *testing.T) {
		res := psqlBoth(t, p, t.TempDir(), "-c", "SELECT 1 AS a; SELECT 'two' AS b, now() IS NOT NULL AS c; VALUES (3), (4)")
		for _, want := range []string{" a ", "two", "(2 rows)"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
			}
		}
		res = psqlBoth(t, p, t.TempDir(), "-c", "SELECT 1 AS a; SELECT 1/0; SELECT 3 AS never")
		if res.exit == 0 || !strings.Contains(res.stderr, "division by zero") || strings.Contains(res.stdout, "never") {
			t.Errorf("exit %d\n%s\n%s", res.exit, res.stdout, res.stderr)
		}
	})
}
