package sqlrewrite

import (
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

const ruleReadsPolicy = `version: 1
roles:
  clinician:
    users: [dr_alice]
    rows:
      patients: "id IN (SELECT ct.patient FROM care_teams ct WHERE ct.clinician = current_user)"
      notes: "EXISTS (SELECT 1 FROM ward.assignments a JOIN care_teams c ON c.patient = a.patient WHERE a.patient = notes.patient)"
      care_teams: "clinician = current_user"
`

// TestRuleReads: the tables a row rule reads are known once the file is
// loaded through LoadPolicy (RowExpressions), and those tables are read-only for the role unless
// writes_rule_tables lists them.
func TestRuleReads(t *testing.T) {
	p := parseRules(t, ruleReadsPolicy)
	r, _ := p.Role("clinician")
	pat, _ := r.RowRule("public", "patients")
	notes, _ := r.RowRule("public", "notes")
	ct, _ := r.RowRule("public", "care_teams")
	if want := []policy.TableName{{Schema: "", Name: "care_teams"}}; !slices.Equal(pat.Reads, want) {
		t.Errorf("patients rule reads %v, want %v", pat.Reads, want)
	}
	if want := []policy.TableName{{Schema: "", Name: "care_teams"}, {Schema: "ward", Name: "assignments"}}; !slices.Equal(notes.Reads, want) {
		t.Errorf("notes rule reads %v, want %v", notes.Reads, want)
	}
	if len(ct.Reads) != 0 {
		t.Errorf("care_teams rule reads %v, want nothing", ct.Reads)
	}
	for _, c := range []struct {
		schema, table string
		rules         int
	}{
		{"", "care_teams", 2}, {"public", "care_teams", 2}, {"other", "care_teams", 2},
		{"ward", "assignments", 1}, {"", "assignments", 1}, {"public", "assignments", 0},
		{"", "patients", 0}, {"", "notes", 0},
	} {
		if got := r.RulesReading(c.schema, c.table); len(got) != c.rules {
			t.Errorf("RulesReading(%q, %q) = %d rules, want %d", c.schema, c.table, len(got), c.rules)
		}
	}

	p = parseRules(t, strings.Replace(ruleReadsPolicy, "    users: [dr_alice]\n", "    users: [dr_alice]\n    writes_rule_tables: [care_teams]\n", 1))
	r, _ = p.Role("clinician")
	if got := r.RulesReading("", "care_teams"); len(got) != 0 || !slices.Equal(r.WritesRuleTables, []policy.TableName{{Schema: "public", Name: "care_teams"}}) {
		t.Errorf("with writes_rule_tables: RulesReading = %v, WritesRuleTables = %v", got, r.WritesRuleTables)
	}
	if got := r.RulesReading("ward", "assignments"); len(got) != 1 {
		t.Errorf("writes_rule_tables made ward.assignments writable too: %v", got)
	}
}

func TestWritesRuleTablesProblems(t *testing.T) {
	src := strings.Replace(ruleReadsPolicy, "    users: [dr_alice]\n", "    users: [dr_alice]\n    writes_rule_tables: [patients, \"a.b.c\"]\n", 1)
	p, err := ParsePolicy([]byte(src))
	if err == nil {
		err = p.Validate()
	}
	if err == nil {
		t.Fatal("writes_rule_tables naming a table no rule reads was accepted")
	}
	for _, want := range []string{
		"roles.clinician.writes_rule_tables: no row rule of role clinician reads table public.patients",
		"roles.clinician.writes_rule_tables: bad table name",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}

func parseRules(t *testing.T, src string) *policy.Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(src))
	if err == nil {
		err = p.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRowExpressionProblems: roles.bad.yml's row rules that are not one
// expression, take a parameter, or do not parse are each a problem of
// the policy loaded through LoadPolicy; policy.Load alone refuses every
// row rule (policy.TestBadFiles).
func TestRowExpressionProblems(t *testing.T) {
	p, err := LoadPolicy("../policy/testdata/roles.bad.yml")
	if err == nil {
		err = p.Validate()
	}
	if err == nil {
		t.Fatal("roles.bad.yml was accepted")
	}
	for _, want := range []string{
		`roles.clinician.rows[patients]: using: the row rule must be one expression`,
		`roles.clinician.rows[encounters]: using: the row rule may not take parameters`,
		`roles.clinician.rows[claims]: using: the row rule expression does not parse`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "without a SQL parser") {
		t.Errorf("LoadPolicy's row rules were refused as unparsed:\n%v", err)
	}
}

// TestUnreadRowRuleAdmitsNoRows: a policy loaded without a reader of row
// rules (policy.Parse), or whose rule does not read, fails Validate, and
// every caller must stop there. One that does not must still not run
// the role unrestricted: before, the unread rule was dropped, so a role
// whose only rule it was became Unrestricted and AccessFor left its
// statements as they were (every row). The rule admits no rows instead.
func TestUnreadRowRuleAdmitsNoRows(t *testing.T) {
	const src = `version: 1
roles:
  clinician:
    users: [dr_alice]
    statements: [read, write, ddl, copy, utility]
    other_columns: plaintext
    rows:
      patients: "id IN (SELECT patient FROM care_teams WHERE clinician = current_user)"
      notes: "id = $1"
`
	for name, load := range map[string]func([]byte) (*policy.Policy, error){
		"policy.Parse":           policy.Parse,
		"ParsePolicy (bad rule)": ParsePolicy,
	} {
		p, err := load([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Validate() == nil {
			t.Fatalf("%s: a policy with an unread row rule passed Validate", name)
		}
		r, _ := p.Role("clinician")
		if r.Unrestricted() { // it would be, without its row rules
			t.Errorf("%s: the role of an unread row rule is unrestricted", name)
		}
		table := "notes"
		if name == "policy.Parse" {
			table = "patients"
		}
		sql := "SELECT id FROM " + table
		acc := AccessFor(sql, Analyze(sql), p, r, newFakeObjects(), false)
		if acc.Refusal == nil && (!acc.Changed || !strings.Contains(acc.SQL, "WHERE false")) {
			t.Errorf("%s: %s went out as %q: every row of a table whose rule was never read", name, sql, acc.SQL)
		}
	}
}
