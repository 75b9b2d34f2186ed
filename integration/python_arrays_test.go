package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPythonListsAsPostgreSQL: Python lists written into encrypted array
// columns as psycopg2 writes them (ARRAY[...] constructors of literals,
// '{}' for an empty list) and as psycopg 3 binds them (parameters typed
// by their elements, in text and in binary) read back through phiguard
// exactly as the plaintext table's do directly, with the same types and
// the same error for a value too long; at rest the columns hold
// ciphertext. Without the drivers the test skips, and fails under
// CI=true (.ci/run installs them).
func TestPythonListsAsPostgreSQL(t *testing.T) {
	t.Parallel()
	for _, d := range []struct{ driver, module, pkg string }{
		{"psycopg2", "psycopg2", "python3-psycopg2"},
		{"psycopg", "psycopg", "python3-psycopg"},
		{"psycopg-binary", "psycopg", "python3-psycopg"},
	} {
		t.Run(d.driver, func(t *testing.T) {
			if err := exec.Command("/usr/bin/python3", "-c", "import "+d.module).Run(); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("Python module %s is not installed (Debian package %s)", d.module, d.pkg)
				}
				t.Skipf("Python module %s is not installed (Debian package %s)", d.module, d.pkg)
			}
			tw := newTwin(t, "pyarr", arrayColumns...)
			proxy := connParams{host: tw.via.Config().Host, port: int(tw.via.Config().Port)}
			direct := connParams{host: pg.Host, port: pg.Port}
			want, err := runProgram(t, direct, "", "/usr/bin/python3", "drivers/arrays.py", d.driver, tw.plain)
			if err != nil {
				t.Fatalf("directly: %v\n%s", err, want)
			}
			got, err := runProgram(t, proxy, "", "/usr/bin/python3", "drivers/arrays.py", d.driver, tw.enc)
			if err != nil {
				t.Fatalf("through phiguard: %v\n%s", err, got)
			}
			if got != want {
				t.Fatalf("through phiguard\n%s\ndirectly\n%s", got, want)
			}
			if !strings.Contains(want, "long value: 22001") || strings.Count(want, "\n") < 6 {
				t.Fatalf("the workload did not run as planned:\n%s", want)
			}
			var plain int64
			plain = queryInt(t, superuser(t), "SELECT count(*) FROM "+tw.enc+" WHERE ta NOT LIKE '~phg~%' OR ia NOT LIKE '~phg~%' OR fa NOT LIKE '~phg~%' OR da NOT LIKE '~phg~%'")
			if plain != 0 {
				t.Fatalf("%d rows with plaintext at rest", plain)
			}
			t.Logf("%s:\n%s", d.driver, got)
		})
	}
}
