package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// record is the part of an audit record the soak counts.
type record struct {
	Event    string `json:"event"`
	User     string `json:"user"`
	Kind     string `json:"kind"`
	Protocol string `json:"protocol"`
	SQLState string `json:"sqlstate"`
	Outcome  string `json:"outcome"`
	Action   string `json:"action"`
	Rejected int64  `json:"rejected"`
}

// auditFigures are the audit trail's counts after the run.
type auditFigures struct {
	records     int
	files       int
	bytes       int64
	events      map[string]int
	sqlstates   map[string]int // of statement records
	protocols   map[string]int // of statement records
	interrupted int
	recovered   int   // audit_recovered records
	rejected    int64 // records refused while the trail was unavailable
	withdrawn   int   // key records with action withdrawn
	lostNonPHI  int   // BEGIN/COMMIT and refusals the clients saw but the trail does not hold
	verify      string
	verifyOK    bool
	// per user and kind: statements that succeeded, all statements, refusals
	ok, stmts, refusals map[string]map[string]int
}

// checkAudit runs `phiguard audit verify --closed` on the trail (after
// the clean shutdown, so the log must end with audit_stop and reach its
// checkpoint; without --closed if phiguard did not shut down cleanly), then counts its records per client. Every INSERT and
// SELECT a client saw succeed reached the database and read or wrote
// PHI, and must have a statement record with 00000: phiguard reserves a
// PHI statement's record before running it and refuses it (58030) when
// the trail cannot take it. BEGIN, COMMIT and refusals touch no PHI and
// run while the trail is down, their records rejected and counted in the
// next audit_recovered; so their shortfall must not exceed that count.
// No client can have more records than statements it sent.
func checkAudit(t *testing.T, ctx context.Context, r *rig, w *workload, f *figures) {
	t.Helper()
	args := []string{"audit", "verify", "--config", r.configFile}
	what := "open log: it reaches the checkpoint"
	if strings.HasPrefix(f.shutdown, "exit 0") {
		args = append(args, "--closed")
		what = "closed log, checkpoint"
	}
	out, err := r.command(ctx, append(args, r.auditDir)...).CombinedOutput()
	a := &f.audit
	a.verify, a.verifyOK = strings.TrimSpace(string(out)), err == nil
	f.check("audit chain verifies ("+what+")", a.verifyOK, "%s", firstLine(a.verify))
	if err := readAudit(r.auditDir, a); err != nil {
		t.Fatalf("read the audit trail: %v", err)
	}
	var short, over []string
	lost := 0 // non-PHI statements and refusals that ran while the trail could not record them
	for _, c := range w.clients {
		for _, kind := range []string{"insert", "select", "transaction"} {
			got, want := a.ok[c.user][kind], int(c.st.ok[kind])
			switch {
			case got < want && kind == "transaction":
				lost += want - got
			case got < want:
				short = append(short, fmt.Sprintf("%s %s: %d records with 00000 < %d succeeded", c.user, kind, got, want))
			}
			if got := a.stmts[c.user][kind] + a.refusals[c.user][kind]; int64(got) > c.st.attempts[kind] {
				over = append(over, fmt.Sprintf("%s %s: %d records > %d sent", c.user, kind, got, c.st.attempts[kind]))
			}
		}
		if got := a.refusals[c.user]["insert"]; int64(got) < c.st.refused {
			lost += int(c.st.refused) - got
		}
	}
	a.lostNonPHI = lost
	f.check("every PHI statement that succeeded is audited", len(short) == 0, "%d short: %s", len(short), firstN(short, 5))
	f.check("other statements unaudited only while the trail was down", int64(lost) <= a.rejected,
		"%d BEGIN/COMMIT or refusals without a record; the trail reported %d records rejected during %d outages", lost, a.rejected, a.recovered)
	f.check("no client has more audit records than statements", len(over) == 0, "%d over: %s", len(over), firstN(over, 5))
}

func readAudit(dir string, a *auditFigures) error {
	files, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if err != nil {
		return err
	}
	a.files = len(files)
	a.events, a.sqlstates, a.protocols = map[string]int{}, map[string]int{}, map[string]int{}
	a.ok, a.stmts, a.refusals = map[string]map[string]int{}, map[string]map[string]int{}, map[string]map[string]int{}
	for _, name := range files {
		if fi, err := os.Stat(name); err == nil {
			a.bytes += fi.Size()
		}
		if strings.HasPrefix(filepath.Base(name), "audit-shred") {
			continue
		}
		if err := readAuditFile(name, a); err != nil {
			return err
		}
	}
	return nil
}

func readAuditFile(name string, a *auditFigures) error {
	fh, err := os.Open(name)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var rec record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("%s: %w", name, err) // verify names the line
		}
		a.count(rec)
	}
	return sc.Err()
}

func (a *auditFigures) count(rec record) {
	a.records++
	a.events[rec.Event]++
	switch rec.Event {
	case "statement":
		a.sqlstates[rec.SQLState]++
		a.protocols[rec.Protocol]++
		inc(a.stmts, rec.User, rec.Kind)
		if rec.SQLState == "00000" {
			inc(a.ok, rec.User, rec.Kind)
		}
		if rec.Outcome == "interrupted" {
			a.interrupted++
		}
	case "refusal":
		inc(a.refusals, rec.User, rec.Kind)
	case "audit_recovered":
		a.recovered++
		a.rejected += rec.Rejected
	case "key":
		if rec.Action == "withdrawn" {
			a.withdrawn++
		}
	}
}

func inc(m map[string]map[string]int, user, kind string) {
	if m[user] == nil {
		m[user] = map[string]int{}
	}
	m[user][kind]++
}

// logFigures describe phiguard's own log (stderr, zap JSON).
type logFigures struct {
	bytes, lines int
	messages     map[string]int // by level and msg
	phi          int            // lines holding a name or an SSN-shaped string
}

var (
	namePattern = regexp.MustCompile(`zq[0-9a-f]{12}`)
	ssnPattern  = regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`)
)

// checkLog counts phiguard's log lines by message and looks for PHI: the
// clients' names are zq + 12 hex digits, their SSNs ddd-dd-dddd, and
// neither may ever appear in the log.
func checkLog(t *testing.T, r *rig, _ *workload, f *figures) {
	t.Helper()
	fh, err := os.Open(r.logFile())
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	lf := &f.log
	lf.messages = map[string]int{}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		lf.lines++
		lf.bytes += len(line) + 1
		var m struct{ Level, Msg string }
		if json.Unmarshal(line, &m) == nil && m.Msg != "" {
			lf.messages[m.Level+": "+m.Msg]++
		} else {
			lf.messages["(not JSON)"]++
		}
		if namePattern.Match(line) || ssnPattern.Match(line) {
			lf.phi++
		}
	}
	f.check("no PHI in phiguard's log", lf.phi == 0, "%d of %d lines hold a client name or an SSN-shaped string", lf.phi, lf.lines)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func firstN(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], "; ") + fmt.Sprintf("; and %d more", len(s)-n)
	}
	return strings.Join(s, "; ")
}
