package integration

import (
	"fmt"
	"os"
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
	inProcess := func() string { return "" }
	return []matrixDriver{
		{name: "pgx", modes: []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol", "copy_from"}, tool: inProcess, run: runPgx},
		{name: "lib-pq", modes: []string{"default", "binary_parameters", "prepared", "copyin"}, tool: inProcess, run: runLibpq},
		{name: "pgjdbc", modes: []string{"threshold0", "threshold1", "threshold5", "thresholdm1", "batchrewrite", "binaryoff", "binaryon", "unspecified", "simple"},
			tool: func() string {
				if m := missingCommand("javac", "default-jdk-headless"); m != "" {
					return m
				}
				if _, err := os.Stat(pgjdbcJar); err != nil {
					return "pgjdbc is not installed (Debian package libpostgresql-jdbc-java)"
				}
				return ""
			},
			run: runJava()},
		{name: "ruby-pg", modes: []string{"text", "prepared", "binary", "literal"}, tool: func() string {
			if err := exec.Command("ruby", "-e", "require 'pg'").Run(); err != nil {
				return "ruby-pg is not installed (Debian package ruby-pg)"
			}
			return ""
		}, run: func(t *testing.T, cp connParams, prefix string, modes []string) (string, error) {
			return runProgram(t, cp, prefix, "ruby", "drivers/workload.rb", strings.Join(modes, ","))
		}},
		{name: "node-postgres", modes: []string{"text", "binary"}, tool: nodePostgres, run: func(t *testing.T, cp connParams, prefix string, modes []string) (string, error) {
			return runProgram(t, cp, prefix, "node", "drivers/node/workload.js", strings.Join(modes, ","))
		}},
		{name: "psycopg2", modes: []string{"default"}, tool: python("psycopg2", "python3-psycopg2"), run: runPython("psycopg2")},
		{name: "psycopg3", modes: []string{"default", "prepare0", "binary", "executemany", "pipeline", "copy", "client"},
			tool: python("psycopg", "python3-psycopg"), run: runPython("psycopg")},
	}
}

// pgjdbcJar is where Debian's libpostgresql-jdbc-java puts pgjdbc.
const pgjdbcJar = "/usr/share/java/postgresql.jar"

// runJava compiles drivers/Workload.java on its first run, into the
// test's temporary directory, and runs it.
func runJava() func(*testing.T, connParams, string, []string) (string, error) {
	var classes string
	return func(t *testing.T, cp connParams, prefix string, modes []string) (string, error) {
		if classes == "" {
			dir := t.TempDir()
			if out, err := exec.Command("javac", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-encoding", "UTF-8", "-cp", pgjdbcJar, "-d", dir, "drivers/Workload.java").CombinedOutput(); err != nil {
				t.Fatalf("javac: %v\n%s", err, out)
			}
			classes = dir
		}
		return runProgram(t, cp, prefix, "java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Dfile.encoding=UTF-8", "-cp", classes+":"+pgjdbcJar, "Workload", strings.Join(modes, ","))
	}
}

// nodePostgres checks for node and npm and installs the pinned
// node-postgres (drivers/node/package-lock.json) into
// drivers/node/node_modules unless it is there.
func nodePostgres() string {
	for _, c := range []string{"node", "npm"} {
		if m := missingCommand(c, "nodejs"); m != "" {
			return m
		}
	}
	if _, err := os.Stat("drivers/node/node_modules/pg/package.json"); err == nil {
		return ""
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = "drivers/node"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Sprintf("npm ci of node-postgres failed (the npm registry or its cache is needed once): %v\n%s", err, out)
	}
	return ""
}
