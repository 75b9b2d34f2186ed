package pgcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultHBA is used when Options.HBA is empty: trust on the Unix socket,
// which only this machine's users can reach and which the helpers here use,
// and SCRAM-SHA-256 over TCP, so clients and the proxy authenticate the way
// they would against a production server.
var DefaultHBA = []string{
	"local all all trust",
	"host all all 127.0.0.1/32 scram-sha-256",
	"host all all ::1/128 scram-sha-256",
}

// childEnv is the whole environment of initdb and postgres. It is built
// from scratch so a developer's PGDATA, PGPORT or locale cannot change the
// cluster, and LC_ALL=C keeps server messages in English, which Start
// matches when it looks for a port conflict.
func childEnv(binDir string) []string {
	return []string{
		"PATH=" + binDir + ":/usr/local/bin:/usr/bin:/bin",
		"LC_ALL=C",
		"LANG=C",
	}
}

// initdb creates the data directory. dataDir must exist, be empty and be
// owned by the server user; pwfile holds the superuser password.
func initdb(ctx context.Context, binDir, dataDir, pwfile, superuser string, u *osUser) error {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", dataDir,
		"-U", superuser,
		"--pwfile", pwfile,
		"-E", "UTF8",
		"--locale", "C",
		"--no-sync", // nothing here must survive a power cut
		"--auth-local", "trust",
		"--auth-host", "scram-sha-256",
	)
	cmd.Dir = filepath.Dir(dataDir) // our cwd may not be readable by the server user
	cmd.Env = childEnv(binDir)
	cmd.SysProcAttr = u.sysProcAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb failed: %v: %s", err, tail(out, 20))
	}
	return nil
}

// addedMark starts what writeConfig adds to initdb's postgresql.conf.
const addedMark = "\n# Added by pgcluster.\n"

// serverSettings are the postgresql.conf lines Start always writes. The
// durability settings are off because test data is thrown away and fsync
// dominates the run time of small tests; max_connections is raised because
// proxy tests open a backend connection per client.
func serverSettings(port int, socketDir string) map[string]string {
	return map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": socketDir,
		"password_encryption":     "scram-sha-256",
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"max_connections":         "200",
		"lc_messages":             "C",
	}
}

// writeConfig rewrites postgresql.conf as initdb's original followed by
// our settings and then the caller's. Later lines win in postgresql.conf,
// so Options.Settings can override anything here. Rewriting from base
// (rather than appending) lets a retry on another port start clean.
func writeConfig(dataDir string, base []byte, ours, theirs map[string]string) error {
	var b bytes.Buffer
	b.Write(base)
	b.WriteString(addedMark)
	writeSettings(&b, ours)
	if len(theirs) > 0 {
		b.WriteString("\n# From pgcluster.Options.Settings.\n")
		writeSettings(&b, theirs)
	}
	return os.WriteFile(filepath.Join(dataDir, "postgresql.conf"), b.Bytes(), 0o600)
}

func writeSettings(b *bytes.Buffer, settings map[string]string) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable file is easier to diff when debugging
	for _, k := range keys {
		// Every setting may be written as a quoted string, whatever its
		// type, so quoting all of them avoids knowing which need it.
		fmt.Fprintf(b, "%s = '%s'\n", k, strings.ReplaceAll(settings[k], "'", "''"))
	}
}

func writeHBA(dataDir string, lines []string) error {
	text := "# Written by pgcluster.\n" + strings.Join(lines, "\n") + "\n"
	return os.WriteFile(filepath.Join(dataDir, "pg_hba.conf"), []byte(text), 0o600)
}

// tail returns the last n lines of out, for error messages that must show
// why a PostgreSQL program failed without pasting its whole output.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
