package sqlrewrite

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// Golden tests: testdata/golden/*.txt hold statements and what the rewriter
// makes of them, in CockroachDB logic-test style, so that a reviewer can
// read every rewrite and refusal without PostgreSQL. A file is a list of
// cases separated by blank lines:
//
//	# comment (kept by -rewrite)
//	role: clinician
//	sql: SELECT id FROM patients
//	----
//	rewrite: SELECT id FROM (SELECT * FROM public.patients WHERE ... OFFSET 0) patients
//	decision: rows filtered by "clinician: rows of public.patients" on public.patients
//
// Header lines before ----:
//
//	role: NAME      a role of the policy (AccessFor); "none" for no role;
//	                "encrypt" for the encryption planner (PlanFor) under
//	                testPolicy (planner_test.go), or under policy: when
//	                given
//	sql: TEXT       the statement; several sql: lines are joined by newlines
//	policy: FILE    a policy of testdata/golden/policies instead of
//	                testdata/access-policy.yml
//	break-glass: on the session has lifted its row rules
//	backend-check: fail
//	                also show what the proxy sends when the backend fails
//	                the rewrite's write check (WriteCheckRefusal)
//
// An access rewrite that could not edit the client's text, and was
// written whole from the tree (access_text.go), says so on a line
// "written whole from the tree".
//
// The catalog is newFakeObjects() plus goldenObjects' additions.
//
// go test ./sqlrewrite -run TestGolden -rewrite rewrites every expected
// section from what the code does now; review the diff before committing.
var rewriteGolden = flag.Bool("rewrite", false, "rewrite the expected sections of testdata/golden/*.txt")

const goldenDir = "testdata/golden"

// goldenCase is one case of a golden file.
type goldenCase struct {
	file string
	line int      // of the case's first line
	head []string // comment and header lines, as written
	want []string // expected lines

	role, sql, policy string
	breakGlass        bool
	backendCheck      bool
	sep               bool // the block has its ---- line
}

// goldenFile is a parsed golden file: its cases and comment blocks, in
// order, so that -rewrite can write it back.
type goldenFile struct {
	cases []*goldenCase
}

func parseGolden(t *testing.T, path string) *goldenFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gf := &goldenFile{}
	var c *goldenCase
	inWant := false
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			c, inWant = nil, false
		case c == nil:
			c = &goldenCase{file: filepath.Base(path), line: i + 1}
			gf.cases = append(gf.cases, c)
			fallthrough
		case !inWant:
			if line == "----" {
				inWant, c.sep = true, true
				continue
			}
			c.head = append(c.head, line)
			if err := c.header(line); err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
		default:
			c.want = append(c.want, line)
		}
	}
	for _, c := range gf.cases {
		if c.commentOnly() {
			continue
		}
		if c.role == "" || c.sql == "" {
			t.Fatalf("%s:%d: a case needs role: and sql:", path, c.line)
		}
		if !*rewriteGolden && len(c.want) == 0 {
			t.Fatalf("%s:%d: a case without expected output (run with -rewrite)", path, c.line)
		}
	}
	return gf
}

// commentOnly says the block is a comment between cases (it has no ----
// and no header).
func (c *goldenCase) commentOnly() bool {
	for _, l := range c.head {
		if !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return c.want == nil && !c.sep
}

func (c *goldenCase) header(line string) error {
	if strings.HasPrefix(line, "#") {
		return nil
	}
	key, val, ok := strings.Cut(line, ":")
	if !ok {
		return fmt.Errorf("want KEY: VALUE, ----, or # comment, got %q", line)
	}
	val = strings.TrimSpace(val)
	switch key {
	case "role":
		c.role = val
	case "sql":
		if c.sql != "" {
			c.sql += "\n"
		}
		c.sql += val
	case "policy":
		c.policy = val
	case "break-glass":
		c.breakGlass = val == "on"
	case "backend-check":
		c.backendCheck = val == "fail"
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

func (gf *goldenFile) String() string {
	var b strings.Builder
	for i, c := range gf.cases {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, l := range c.head {
			b.WriteString(l + "\n")
		}
		if c.commentOnly() {
			continue
		}
		b.WriteString("----\n")
		for _, l := range c.want {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// goldenObjects is the fake catalog with what only golden cases need:
// a table name in two schemas, and a table whose columns are unknown.
type goldenObjects struct{ *fakeObjects }

func newGoldenObjects() goldenObjects {
	f := newFakeObjects()
	f.tables["a.dup"] = []string{"patient"}
	f.tables["b.dup"] = []string{"patient"}
	f.tables["pg_temp_3.care_teams"] = []string{"clinician", "patient"}
	f.tables["public.nocols"] = nil
	return goldenObjects{f}
}

// Columns of public.nocols are unknown, as for a table created after the
// catalog was read.
func (g goldenObjects) Columns(schema, name string) ([]string, bool) {
	if g.key(schema, name) == "public.nocols" {
		return nil, false
	}
	return g.fakeObjects.Columns(schema, name)
}

// RelationKind answers for an unqualified name as the Objects contract
// says: a table when every relation of that name, in any schema, is one
// (the fake alone knows only public and pg_catalog names unqualified).
func (g goldenObjects) RelationKind(schema, name string) RelationKind {
	if k := g.fakeObjects.RelationKind(schema, name); k != RelationUnknown || schema != "" {
		return k
	}
	kind := RelationUnknown
	for _, s := range g.RelationSchemas(name) {
		if k := g.fakeObjects.RelationKind(s, name); k != RelationTable {
			return RelationOther
		}
		kind = RelationTable
	}
	return kind
}

// goldenRunner runs cases, loading each policy once.
type goldenRunner struct {
	t        *testing.T
	policies map[string]*policy.Policy
	objs     goldenObjects
}

func (r *goldenRunner) policy(name string) *policy.Policy {
	if p, ok := r.policies[name]; ok {
		return p
	}
	var p *policy.Policy
	switch name {
	case "":
		p = loadAccessPolicy(r.t)
	case "encrypt":
		p = testPolicy(r.t)
	default:
		var err error
		if p, err = LoadPolicy(filepath.Join(goldenDir, "policies", name)); err == nil {
			err = p.Validate()
		}
		if err != nil {
			r.t.Fatalf("policy %s: %v", name, err)
		}
	}
	r.policies[name] = p
	return p
}

// run returns the output lines of one case.
func (r *goldenRunner) run(c *goldenCase) []string {
	if c.role == "encrypt" {
		name := "encrypt"
		if c.policy != "" {
			name = c.policy
		}
		plan := PlanFor(Analyze(c.sql), r.policy(name))
		return append(append(planLines(plan), operatorLines(c.sql, plan)...), sortLines(c.sql, plan)...)
	}
	pol := r.policy(c.policy)
	var role *policy.Role
	if c.role != "none" {
		var ok bool
		if role, ok = pol.Role(c.role); !ok {
			r.t.Fatalf("%s:%d: no role %s", c.file, c.line, c.role)
		}
	}
	before := accessTextFallbacks.Load()
	acc := AccessFor(c.sql, Analyze(c.sql), pol, role, r.objs, c.breakGlass)
	out := accessLines(acc)
	if accessTextFallbacks.Load() != before {
		// The client's text could not be edited (access_text.go).
		out = append(out, "written whole from the tree")
	}
	if c.backendCheck {
		out = append(out, backendCheckLine(acc))
	}
	return out
}

func refusalLine(r *Refusal) string {
	return fmt.Sprintf("refused %s: %s", r.PgError().Code, r.Error())
}

func accessLines(acc *Access) []string {
	if acc.Refusal != nil {
		return []string{refusalLine(acc.Refusal)}
	}
	out := []string{"unchanged"}
	if acc.Changed {
		out = []string{"rewrite: " + acc.SQL}
	}
	if acc.BreakGlass != nil {
		out = append(out, fmt.Sprintf("break-glass: %q", acc.BreakGlass.Reason))
	}
	for _, d := range acc.Decisions {
		on := d.Table
		if d.Column != "" {
			on += "." + d.Column
		}
		line := fmt.Sprintf("decision: %s by %q", d.Effect, d.Rule)
		if on != "" {
			line += " on " + on
		}
		out = append(out, line)
	}
	return out
}

var rowCheckMarker = regexp.MustCompile(`phiguard_rowcheck_[0-9a-f]{16}`)

// backendCheckLine is what the proxy sends when a write check of the
// rewrite fails in the backend: PostgreSQL reports the marker in a
// boolean input error.
func backendCheckLine(acc *Access) string {
	m := rowCheckMarker.FindString(acc.SQL)
	if m == "" {
		return "backend check: none in the rewrite"
	}
	r, ok := WriteCheckRefusal(`invalid input syntax for type boolean: "` + m + `12345"`)
	if !ok {
		return "backend check: marker not recognised"
	}
	return "backend check fails: " + refusalLine(r)
}

// sortLines shows a proxy-side sort's plan and the text sent for it.
func sortLines(sql string, p *Plan) []string {
	if p.Sort == nil {
		return nil
	}
	ok := true
	// The checks of comparisons PostgreSQL could fold are placed in the
	// client's text first (TextGuards), as the proxy does.
	text := []byte(sql)
	if guards := p.TextGuards(); len(guards) > 0 {
		edits, placed := OperatorEdits(text, LiteralSpans(text), guards, nil)
		if placed {
			text, placed = Splice(text, edits)
		}
		if !placed {
			return []string{"sort: " + p.Sort.String(), "sent: error: the checks' places disagree with the text"}
		}
	}
	sent, err := RewriteSort(text, p.Sort)
	if err != nil {
		return []string{"sort: " + p.Sort.String(), "sent: error: " + err.Error()}
	}
	if len(p.Operators) > 0 {
		if sent, ok = GateWhere(sent, "<check>"); !ok {
			return []string{"sort: " + p.Sort.String(), "sent: error: no FROM for the operators' check"}
		}
	}
	return []string{"sort: " + p.Sort.String(), "sent: " + string(sent)}
}

func planLines(p *Plan) []string {
	if p.Refusal != nil {
		return []string{refusalLine(p.Refusal)}
	}
	var out []string
	for _, v := range p.Values {
		line := "encrypt: " + v.String()
		if f := compareFormName[v.Form]; f != "" && v.Use == UseCompare {
			line += " (" + f + ")"
		}
		if s := v.Subject; s != nil {
			if s.Literal >= 0 {
				line += fmt.Sprintf(" subject literal #%d", s.Literal)
			} else {
				line += fmt.Sprintf(" subject $%d", s.Param)
			}
		}
		out = append(out, line)
	}
	if c := p.Copy; c != nil {
		out = append(out, copyLine(c))
	}
	for _, d := range p.Defaults {
		out = append(out, "default: "+d.QualifiedName())
	}
	if len(p.OrderPositions) > 0 {
		out = append(out, fmt.Sprintf("order positions checked in the result: %v", p.OrderPositions))
	}
	for _, c := range p.Cuts {
		cut := fmt.Sprintf("cut: bytes %d–%d after literal #%d", c.Start, c.End, c.After)
		if c.Text != "" {
			cut += fmt.Sprintf(", writing %q", c.Text)
		}
		out = append(out, cut)
	}
	switch {
	case len(out) > 0:
	case p.Protected:
		out = []string{"plan: nothing to encrypt"}
	default:
		out = []string{"plan: passthrough"}
	}
	if line := catalogChecksLine(p); line != "" {
		out = append(out, line)
	}
	return out
}

// operatorLines shows each comparison on cells the plan checks the
// operator of (operator_guard.go): the text it wraps and the operand
// types it checks.
func operatorLines(sql string, p *Plan) []string {
	if p.Refusal != nil {
		return nil
	}
	var out []string
	spans := LiteralSpans([]byte(sql))
	for _, g := range p.Operators {
		open, ok1 := g.Open.Span([]byte(sql), spans)
		end, ok2 := g.Close.Span([]byte(sql), spans)
		if !ok1 || !ok2 || open[0] > end[0] {
			out = append(out, "check: error: its points fall outside the text")
			continue
		}
		var pairs []string
		for _, pr := range g.Pairs {
			pairs = append(pairs, operandName(pr.Left)+" "+g.Op+" "+operandName(pr.Right))
		}
		place := g.Place.String()
		if vOpen, ok1 := g.ValueOpen.Span([]byte(sql), spans); g.Place != PlaceAround && g.Place != PlaceGate && ok1 {
			if vEnd, ok2 := g.ValueClose.Span([]byte(sql), spans); ok2 && vOpen[0] <= vEnd[0] {
				place += fmt.Sprintf(" %q", sql[vOpen[0]:vEnd[0]])
			}
		}
		out = append(out, fmt.Sprintf("check: %s on %s, around %q: %s; %s", g.Op, g.Column.QualifiedName(), sql[open[0]:end[0]], strings.Join(pairs, ", "), place))
	}
	return out
}

func operandName(o Operand) string {
	name := catalogTypeNames[o.Type]
	if name == "" {
		name = fmt.Sprintf("oid %d", o.Type)
	}
	if o.Param > 0 {
		return fmt.Sprintf("$%d (declared, else %s)", o.Param, name)
	}
	return name
}

var compareFormName = map[CompareForm]string{CompareEq: "=", CompareNe: "<>", CompareIn: "IN", CompareItem: "item of ARRAY"}

func copyLine(c *CopyPlan) string {
	dir := "out"
	if c.In {
		dir = "in"
	}
	line := fmt.Sprintf("copy: %s %s", dir, c.Table.Name)
	if len(c.Columns) > 0 {
		line += " (" + strings.Join(c.Columns, ", ") + ")"
	}
	if c.CSV {
		line += " csv"
	}
	if c.Header {
		line += " header"
	}
	for _, o := range []struct{ name, val string }{{"delimiter", c.Delimiter}, {"quote", c.Quote}, {"escape", c.Escape}} {
		if o.val != "" {
			line += fmt.Sprintf(" %s %q", o.name, o.val)
		}
	}
	if c.NullSet {
		line += fmt.Sprintf(" null %q", c.Null)
	}
	return line
}

func goldenFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", goldenDir, err)
	}
	return files
}

// TestGolden runs every case of testdata/golden/*.txt and compares what the
// rewriter produces with the expected section (or, with -rewrite, writes
// it there).
func TestGolden(t *testing.T) {
	r := &goldenRunner{t: t, policies: map[string]*policy.Policy{}, objs: newGoldenObjects()}
	for _, path := range goldenFiles(t) {
		gf := parseGolden(t, path)
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			for _, c := range gf.cases {
				if c.commentOnly() {
					continue
				}
				got := r.run(c)
				if *rewriteGolden {
					c.want = got
					continue
				}
				if g, w := strings.Join(got, "\n"), strings.Join(c.want, "\n"); g != w {
					t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", c.file, c.line, strings.ReplaceAll(c.sql, "\n", " "), g, w)
				}
			}
		})
		if *rewriteGolden {
			if err := os.WriteFile(path, []byte(gf.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// catalogChecksLine shows what a plan leaves to the session's catalog:
// the protected tables' columns a q.f must be (else column notation),
// and the inner tables that must lack a name bound further out.
func catalogChecksLine(p *Plan) string {
	var has, lacks []string
	for _, n := range p.Notation {
		has = append(has, n.Table.String()+"."+n.Column)
	}
	for _, u := range p.Unshadowed {
		lacks = append(lacks, fmt.Sprintf("%s.%s (for %s)", u.Inner, u.Name, u.Column.QualifiedName()))
	}
	var parts []string
	if len(has) > 0 {
		parts = append(parts, "has "+strings.Join(has, ", "))
	}
	if len(lacks) > 0 {
		parts = append(parts, "lacks "+strings.Join(lacks, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "catalog: " + strings.Join(parts, "; ")
}
