package sqlrewrite

import (
	"strings"
	"testing"
)

// TestRuleNamesCannotBeCaptured: a statement's own CTE, or a temporary
// table, named like a table the row rule reads must not stand in for it.
// Before rules were bound to schemas, the first statement returned any
// patient the CTE named.
func TestRuleNamesCannotBeCaptured(t *testing.T) {
	pol := loadAccessPolicy(t)
	objs := newFakeObjects()
	objs.tables["pg_temp_3.care_teams"] = []string{"clinician", "patient"}
	role, _ := pol.Role("clinician")
	for _, sql := range []string{
		`WITH care_teams(clinician, patient) AS (VALUES (current_user::text, '00000000-0000-0000-0000-000000000001'::uuid)) SELECT id, ssn FROM patients`,
		`WITH care_teams AS (SELECT current_user AS clinician, id AS patient FROM providers) SELECT * FROM notes`,
		`WITH patients AS (SELECT 1) SELECT * FROM public.patients`,
		`SELECT * FROM patients`,
	} {
		acc := AccessFor(sql, Analyze(sql), pol, role, objs, false)
		if acc.Refusal != nil {
			t.Fatalf("%s: refused: %v", sql, acc.Refusal)
		}
		if !strings.Contains(acc.SQL, "FROM public.care_teams WHERE clinician OPERATOR(pg_catalog.=) current_user") {
			t.Errorf("%s\n  sent %s\n  the rule's care_teams is not bound to public", sql, acc.SQL)
		}
		if strings.Contains(acc.SQL, "(SELECT * FROM patients WHERE") || strings.Contains(acc.SQL, "(SELECT * FROM notes WHERE") {
			t.Errorf("%s\n  sent %s\n  the ruled table inside the fence is not schema-qualified", sql, acc.SQL)
		}
	}
}

// TestRuleNamesThatCannotBeBound: a rule whose names do not bind to exactly
// one schema refuses the statement and says which name to qualify.
func TestRuleNamesThatCannotBeBound(t *testing.T) {
	cases := []struct{ rule, want string }{
		{"id IN (SELECT patient FROM teams WHERE clinician = current_user)", `reads teams, which is not a relation of this database`},
		{"id IN (SELECT patient FROM dup WHERE clinician = current_user)", `reads dup, which exists in schemas a, b: qualify it`},
		{"id IN (WITH x AS (SELECT patient FROM care_teams) SELECT patient FROM x)", `defines a WITH query`},
		{"my_func(id)", `calls function my_func, which is not a safe built-in`},
		{"id === id", `uses operator ===, which is not a built-in operator`},
	}
	for _, c := range cases {
		pol, err := ParsePolicy([]byte(`version: 1
tables: {}
roles:
  clinician:
    users: [dr_alice]
    statements: [read]
    other_columns: plaintext
    rows:
      public.patients: "` + c.rule + `"
`))
		if err != nil {
			t.Fatalf("%s: %v", c.rule, err)
		}
		objs := newFakeObjects()
		objs.tables["a.dup"] = []string{"patient"}
		objs.tables["b.dup"] = []string{"patient"}
		role, _ := pol.Role("clinician")
		acc := AccessFor("SELECT id FROM patients", Analyze("SELECT id FROM patients"), pol, role, objs, false)
		if acc.Refusal == nil || !strings.Contains(acc.Refusal.Error(), c.want) || !strings.Contains(acc.Refusal.Error(), "clinician: rows of public.patients") {
			t.Errorf("rule %q: got %+v, want a refusal containing %q naming the rule", c.rule, acc.Refusal, c.want)
		}
	}
}
