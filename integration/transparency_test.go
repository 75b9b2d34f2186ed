package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// The transparency check (issue 12; docs/testing-rls-oracle.md): every
// statement runs once on the plaintext EHR straight on PostgreSQL and once
// on the same rows with testdata/transparency-policy.yml's columns
// encrypted, through phiguard, as a user whose role may see everything.
// Each result must be the same (RowDescription, command tag, rows, or
// SQLSTATE), or phiguard must refuse the statement with 0A000. The
// verdicts:
//
//   - equal: the same answer, in order when the statement has ORDER BY,
//     as multisets otherwise (or the same answer the plaintext database
//     gives under another plan);
//   - refused: phiguard refused with 0A000 (the construct its message
//     names is counted);
//   - DIFFERENT: any other difference; the test fails and saves the case
//     under $PHIGUARD_TRANSPARENCY_DIFFERENT;
//   - not comparable: the plaintext database's own answer depends on row
//     order or plan (another physical order, or another plan, gives
//     another answer), so there is no one answer to hold phiguard to.
const (
	tpEqual      = "equal"
	tpRefused    = "refused"
	tpDifferent  = "DIFFERENT"
	tpUnstable   = "not comparable"
	tpStatements = "5000" // statement_timeout on every side, ms
)

// tpSession is the three sessions a case runs on: through phiguard to the
// encrypted database, straight to the plaintext one, and straight to the
// plaintext copy in another row order (asked only when the first two
// differ).
type tpSession struct {
	p                    *phiguard
	via, plain, shuffled *pgx.Conn
	// encrypted goes straight to the encrypted database (databasesDiffer).
	encrypted *pgx.Conn
	pol       *policy.Policy
}

func newTPSession(t *testing.T, p *phiguard, pol *policy.Policy) *tpSession {
	s := &tpSession{p: p, pol: pol}
	s.reconnect(t)
	return s
}

// reconnect opens whichever session an error ended.
func (s *tpSession) reconnect(t *testing.T) {
	t.Helper()
	if s.via == nil || s.via.IsClosed() {
		s.via = connect(t, s.p.url(transparentUser, transparentPassw, transparencyDB, "statement_timeout", tpStatements))
	}
	if s.plain == nil || s.plain.IsClosed() {
		s.plain = connect(t, directURL(transparentUser, transparentPassw, oracleGenDB, "statement_timeout", tpStatements))
	}
	if s.encrypted == nil || s.encrypted.IsClosed() {
		s.encrypted = connect(t, directURL(transparentUser, transparentPassw, transparencyDB, "statement_timeout", tpStatements))
	}
	if s.shuffled == nil || s.shuffled.IsClosed() {
		s.shuffled = connect(t, directURL(transparentUser, transparentPassw, oracleShuffledDB, "statement_timeout", tpStatements,
			"enable_indexscan", "off", "enable_indexonlyscan", "off", "enable_bitmapscan", "off"))
	}
}

// judge runs a case on both sides in mode and returns its verdict, with
// the refused construct or the difference.
func (s *tpSession) judge(t *testing.T, mode string, c tpCase) (verdict, detail string) {
	verdict = tpEqual
	s.reconnect(t)
	a := runTP(s.via, mode, c)
	refusal := ""
	for i, r := range a {
		if pe, ok := phiguardError(r.err); ok && pe.Code == "0A000" {
			// The steps before the refused one must still agree.
			refusal = refusedConstruct(pe.Message)
			if i == 0 {
				return tpRefused, refusal
			}
			c.steps, a = c.steps[:i], a[:i]
			break
		}
	}
	b := runTP(s.plain, mode, c)
	d := diffRuns(c, a, b)
	if d != "" {
		verdict, d = s.recheck(mode, c, a, b, d)
	}
	switch {
	case d == "" && verdict != tpUnstable && refusal != "":
		return tpRefused, refusal
	case d == "":
		return verdict, ""
	}
	return verdict, d
}

// recheck asks the plaintext database again, on both row orders and under
// each of the RLS oracle's plan variants: when one of its answers is
// phiguard's, phiguard gave an answer PostgreSQL gives too (equal); when
// one differs from its first answer, the case has no one answer (not
// comparable); a LIMIT whose rows phiguard picked otherwise from the same
// unlimited answer is not comparable either. Otherwise the difference
// stands.
func (s *tpSession) recheck(mode string, c tpCase, a, b tpRun, d string) (verdict, detail string) {
	if timedOut(a) || timedOut(b) {
		return tpUnstable, ""
	}
	unstable := false
	for _, conn := range []*pgx.Conn{s.plain, s.shuffled} {
		for _, v := range append([]string{""}, planVariants...) {
			var setup []string
			if v != "" {
				setup = strings.Split(v, "; ")
			}
			r := runTP(conn, mode, c, setup...)
			if diffRuns(c, a, r) == "" {
				return tpEqual, ""
			}
			unstable = unstable || diffRuns(c, b, r) != ""
		}
	}
	if unstable || s.limitPick(mode, c, a, b) || s.databasesDiffer(mode, c, a) {
		return tpUnstable, ""
	}
	return tpDifferent, d
}

// databasesDiffer: phiguard's answer holds no cell and is the one the
// encrypted database gives the text directly: phiguard sent it as it is
// (or changed nothing the answer shows), and the two databases answer
// differently by themselves — an order-dependent statement over rows
// stored in another physical order (sqlsmith --seed=1041 #438, a window's
// json_object_agg over peers on careplans; --seed=339 #72, jsonb_agg over
// peers with LIMIT on conditions, whose encrypted columns it does not
// read). phiguard is not the cause.
func (s *tpSession) databasesDiffer(mode string, c tpCase, a tpRun) bool {
	if holdsCell(a) {
		return false // ciphertext served: phiguard's doing, whatever the database says
	}
	return diffRuns(c, a, runTP(s.encrypted, mode, c)) == ""
}

// holdsCell: a value of the run is a cell, or holds one.
func holdsCell(r tpRun) bool {
	for _, res := range r {
		for _, row := range res.rows {
			for _, v := range row {
				if strings.Contains(v, "~phg~") {
					return true
				}
			}
		}
	}
	return false
}

func timedOut(r tpRun) bool {
	return len(r) > 0 && r[len(r)-1].err != nil && errKey(r[len(r)-1].err) == "SQLSTATE 57014"
}

// limitPick: the last step ends in LIMIT (or OFFSET), phiguard returned
// as many rows as PostgreSQL with the same RowDescription, and each of
// them is a row of the statement without its outermost LIMIT: which rows
// a LIMIT picks without ORDER BY is not part of the answer.
func (s *tpSession) limitPick(mode string, c tpCase, a, b tpRun) bool {
	last := len(c.steps) - 1
	if len(a) != len(c.steps) || len(b) != len(c.steps) || a[last].err != nil || b[last].err != nil ||
		len(a[last].rows) != len(b[last].rows) || diffRuns(tpCase{steps: c.steps[:last]}, a[:last], b[:last]) != "" {
		return false
	}
	unlimited, ok := withoutOuterLimit(c.steps[last])
	if !ok {
		return false
	}
	vc := c
	vc.steps = append(append([]string(nil), c.steps[:last]...), unlimited)
	all := runTP(s.plain, mode, vc)
	if len(all) != len(vc.steps) || all[last].err != nil {
		return false
	}
	_, extra := diffRows(distinctRows(all[last].rows), distinctRows(a[last].rows))
	return len(extra) == 0
}

// Refusal messages name the construct (sqlrewrite.Refusal.Error):
// "column t.c is encrypted (mode): <construct> cannot run on it through
// phiguard", "table t has encrypted columns: <construct> is not supported
// on it through phiguard", or the construct alone.
var (
	refusedOnColumn = regexp.MustCompile(`^column \S+ is encrypted \((\w+)\): (.*) cannot run on it through phiguard`)
	refusedOnTable  = regexp.MustCompile(`^table \S+ has encrypted columns: (.*) is not supported on it through phiguard`)
	refusedFunction = regexp.MustCompile(`\bfunction \S+\(\)`)
	quotedName      = regexp.MustCompile(`"[^"]*"|\b[a-z_]+\.[a-z_]+(\.[a-z_]+)?\b`)
)

// refusedOther names the constructs of phiguard's refusals in other words.
var refusedOther = []struct {
	msg       *regexp.Regexp
	construct string
}{
	{regexp.MustCompile(`is a view that reads encrypted columns`), "reading a view over encrypted columns"},
	{regexp.MustCompile(`write its values as '...' literals`), "a literal phiguard does not read (E'...', $$...$$) for an encrypted column"},
	{regexp.MustCompile(`phiguard cannot read this value`), "a value phiguard does not read (a non-ISO date, ...) for an encrypted column"},
}

// refusedConstruct is the construct a refusal names, without the names of
// tables, columns and functions, so that refusals group by construct: "ORDER
// BY (randomized)", "function call (deterministic)".
func refusedConstruct(msg string) string {
	if m := refusedOnColumn.FindStringSubmatch(msg); m != nil {
		return refusedFunction.ReplaceAllString(m[2], "function call") + " (" + m[1] + ")"
	}
	if m := refusedOnTable.FindStringSubmatch(msg); m != nil {
		return refusedFunction.ReplaceAllString(m[1], "function call") + " (table)"
	}
	for _, r := range refusedOther {
		if r.msg.MatchString(msg) {
			return r.construct
		}
	}
	msg = quotedName.ReplaceAllString(msg, "…")
	if len(msg) > 100 {
		msg = msg[:100] + "…"
	}
	return msg
}

// tpTally counts the verdicts of one run of the check.
type tpTally struct {
	name       string
	start      time.Time
	byMode     map[string]map[string]int
	constructs map[string]int
	different  int
}

func newTPTally(name string) *tpTally {
	return &tpTally{name: name, start: time.Now(), byMode: map[string]map[string]int{}, constructs: map[string]int{}}
}

func (tl *tpTally) count(t *testing.T, mode string, c tpCase, verdict, detail string) {
	t.Helper()
	if tl.byMode[mode] == nil {
		tl.byMode[mode] = map[string]int{}
	}
	tl.byMode[mode][verdict]++
	switch verdict {
	case tpRefused:
		tl.constructs[detail]++
	case tpDifferent:
		tl.different++
		name := strings.NewReplacer(" ", "_", "/", "_", "#", "", "=", "", ":", "_").Replace(c.source) + "-" + mode + ".sql"
		path := saveCase(t, "PHIGUARD_TRANSPARENCY_DIFFERENT", "phiguard-transparency-different", name,
			fmt.Sprintf("transparency check: DIFFERENT, %s (%s)\n%s", c.source, mode, detail), c.steps)
		if tl.different <= oracleShown {
			t.Errorf("DIFFERENT: %s (%s): %s\n    %s\n    saved as %s", c.source, mode, detail, oneLine(c.steps), path)
		}
	}
}

// report prints the counts per protocol and the refusals per construct,
// each as a share of the cases run in both protocols.
func (tl *tpTally) report(t *testing.T) {
	t.Helper()
	total := 0
	for _, mode := range tpModes {
		m := tl.byMode[mode]
		n := m[tpEqual] + m[tpRefused] + m[tpDifferent] + m[tpUnstable]
		total += n
		t.Logf("transparency, %s, %s protocol: %d cases run, %d equal, %d refused (%.1f%%), %d DIFFERENT, %d not comparable",
			tl.name, mode, n, m[tpEqual], m[tpRefused], pct(m[tpRefused], n), m[tpDifferent], m[tpUnstable])
	}
	t.Logf("transparency, %s: %d runs in %s; refusals by construct (share of all runs):", tl.name, total, time.Since(tl.start).Round(time.Second))
	constructs := make([]string, 0, len(tl.constructs))
	for k := range tl.constructs {
		constructs = append(constructs, k)
	}
	slices.SortFunc(constructs, func(x, y string) int {
		if d := tl.constructs[y] - tl.constructs[x]; d != 0 {
			return d
		}
		return strings.Compare(x, y)
	})
	for _, k := range constructs {
		t.Logf("  %6d  %5.1f%%  %s", tl.constructs[k], pct(tl.constructs[k], total), k)
	}
	if tl.different > oracleShown {
		t.Errorf("%d more DIFFERENT cases not shown (all saved)", tl.different-oracleShown)
	}
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// TestTransparencyCorpus runs the hand-written corpus
// (testdata/transparency/*.sql, or the directory
// $PHIGUARD_TRANSPARENCY_CORPUS, e.g. of saved DIFFERENT cases) through
// the transparency check in both protocols.
func TestTransparencyCorpus(t *testing.T) {
	t.Parallel()
	fx := transparencyFixture(t)
	dir := os.Getenv("PHIGUARD_TRANSPARENCY_CORPUS")
	if dir == "" {
		dir = filepath.Join("testdata", "transparency")
	}
	cases := readTPCorpus(t, dir)
	p := startProxy(t, proxyOptions{protect: fx.protect, quiet: true})
	s := newTPSession(t, p, fx.protect.Policy)
	tally := newTPTally("hand-written corpus")
	for _, c := range cases {
		for _, mode := range tpModes {
			verdict, detail := s.judge(t, mode, c)
			tally.count(t, mode, c, verdict, detail)
			if verdict == tpRefused || verdict == tpUnstable {
				t.Logf("%s (%s): %s %s", c.source, mode, verdict, detail)
			}
		}
	}
	tally.report(t)
}

// TestTransparencySQLsmith runs $PHIGUARD_TRANSPARENCY_STATEMENTS
// statements sqlsmith generated over the plaintext EHR (2,000 unless set;
// make test-transparency runs 100,000), from the seed
// $PHIGUARD_TRANSPARENCY_SEED (1 unless set; the RLS oracle's sample when
// both are left alone), through the transparency check in both protocols.
func TestTransparencySQLsmith(t *testing.T) {
	t.Parallel()
	bin := sqlsmithBinary(t, "the transparency check's generated statements")
	n := envInt(t, "PHIGUARD_TRANSPARENCY_STATEMENTS", 2000)
	seed := int64(envInt(t, "PHIGUARD_TRANSPARENCY_SEED", 1))
	fx := transparencyFixture(t)
	stmts := smithSample(t, bin, n, seed)
	p := startProxy(t, proxyOptions{protect: fx.protect, quiet: true})
	s := newTPSession(t, p, fx.protect.Policy)
	tally := newTPTally("sqlsmith")
	for _, st := range stmts {
		c := tpCase{source: fmt.Sprintf("sqlsmith --seed=%d #%d", st.seed, st.index), steps: []string{st.sql}}
		for _, mode := range tpModes {
			verdict, detail := s.judge(t, mode, c)
			tally.count(t, mode, c, verdict, detail)
		}
	}
	tally.report(t)
}

// readTPCorpus reads the cases of every .sql file in dir: a case is a
// paragraph (lines up to a blank line after a statement's end) of
// statements, each ending with a semicolon at the end of a line; lines
// starting with -- are comments.
// Each case runs in a transaction that is rolled back.
func readTPCorpus(t *testing.T, dir string) []tpCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no .sql files (%v)", dir, err)
	}
	var cases []tpCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var body []string
		first := 0
		flush := func() {
			text := strings.TrimSpace(strings.Join(body, "\n"))
			body = nil
			if text == "" {
				return
			}
			if !strings.HasSuffix(text, ";") {
				t.Fatalf("%s:%d: a statement does not end with a semicolon", f, first)
			}
			c := tpCase{source: fmt.Sprintf("%s:%d", filepath.Base(f), first), tx: true}
			for _, s := range strings.Split(text+"\n", ";\n") {
				if s = strings.TrimSpace(s); s != "" {
					c.steps = append(c.steps, s)
				}
			}
			cases = append(cases, c)
		}
		for i, line := range strings.Split(string(b), "\n") {
			switch {
			case strings.TrimSpace(line) == "" && (len(body) == 0 || strings.HasSuffix(strings.TrimSpace(body[len(body)-1]), ";")):
				flush()
			case strings.TrimSpace(line) == "":
				body = append(body, line) // inside a statement (sqlsmith writes such lines)
			case strings.HasPrefix(strings.TrimSpace(line), "--"):
			default:
				if len(body) == 0 {
					first = i + 1
				}
				body = append(body, line)
			}
		}
		flush()
	}
	return cases
}
