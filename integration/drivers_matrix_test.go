package integration

import (
	"os/exec"
	"strings"
	"testing"
)

// driverMatrix lists the drivers and modes of TestDriverMatrix
// (docs/drivers.md describes each mode).
func driverMatrix() []matrixDriver {
	python := func(module, pkg string) func() string {
		return func() string {
			if err := exec.Command("/usr/bin/python3", "-c", "import "+module).Run(); err != nil {
				return "Python module " + module + " is not installed (Debian package " + pkg + ")"
			}
			return ""
		}
	}
	runPython := func(driver string) func(*testing.T, connParams, string, []string) (string, error) {
		return func(t *testing.T, cp connParams, prefix string, modes []string) (string, error) {
			return runProgram(t, cp, prefix, "/usr/bin/python3", "drivers/workload.py", driver, strings.Join(modes, ","))
		}
	}
	return []matrixDriver{
		{name: "psycopg2", modes: []string{"default"}, tool: python("psycopg2", "python3-psycopg2"), run: runPython("psycopg2")},
		{name: "psycopg3", modes: []string{"default", "prepare0", "binary", "executemany", "pipeline"},
			tool: python("psycopg", "python3-psycopg"), run: runPython("psycopg")},
	}
}
