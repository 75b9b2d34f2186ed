package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRLSOracleReplay judges again statements the RLS oracle saved as
// leaks (saveLeak's files), from testdata/rls-replay or the directory
// $PHIGUARD_RLS_REPLAY: each file names its role and protocol in its
// first line, and the statement follows the comment lines. A leak fails
// the test as in the other oracle tests. It is how a fix, in phiguard or
// in the oracle's judge, is checked against a long run's findings without
// the long run. testdata/rls-replay holds the findings of the first
// 100,000-statement run: one real leak (seed 93, now refused) and seven
// LIMIT picks the judge once took for leaks (now not comparable).
func TestRLSOracleReplay(t *testing.T) {
	dir := os.Getenv("PHIGUARD_RLS_REPLAY")
	if dir == "" {
		dir = filepath.Join("testdata", "rls-replay")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("PHIGUARD_RLS_REPLAY=%s: no .sql files (%v)", dir, err)
	}
	o := rlsOracle(t)
	p := startProxy(t, oracleProxyOptions(t, o))
	sessions := map[string]*oracleSession{}
	for _, f := range files {
		role, mode, steps := readSavedLeak(t, f)
		var or *oracleRole
		for i := range o.roles {
			if o.roles[i].role.Name == role {
				or = &o.roles[i]
			}
		}
		if or == nil {
			t.Fatalf("%s: role %q is not one of the oracle's", f, role)
		}
		if sessions[role] == nil {
			sessions[role] = newOracleSession(t, p, *or)
		}
		c := accessCase{steps: steps, noTx: len(steps) == 1}
		verdict, detail := sessions[role].compare(t, mode, c)
		t.Logf("%s: %s %s", filepath.Base(f), verdict, detail)
		var tally oracleTally
		tally.count(t, *or, oracleSource{caseName: "replay " + filepath.Base(f), mode: mode}, steps, verdict, detail)
	}
}

var savedLeakHeader = regexp.MustCompile(`^-- RLS oracle leak: role (\S+), user \S+, .*\((simple|extended|copy)\)$`)

// readSavedLeak reads a file saveLeak wrote: role, protocol and steps.
func readSavedLeak(t *testing.T, path string) (role, mode string, steps []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	m := savedLeakHeader.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("%s: first line %q is not a saved leak's header", path, lines[0])
	}
	var body []string
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "--") {
			body = append(body, l)
		}
	}
	for _, s := range strings.Split(strings.Join(body, "\n"), ";\n") {
		if s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";")); s != "" {
			steps = append(steps, s)
		}
	}
	return m[1], m[2], steps
}
