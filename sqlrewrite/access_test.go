package sqlrewrite

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

func loadAccessPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := LoadPolicy("testdata/access-policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

func accessFor(t testing.TB, pol *policy.Policy, role, sql string, breakGlass bool) *Access {
	t.Helper()
	r, ok := pol.Role(role)
	if !ok {
		t.Fatalf("no role %s", role)
	}
	return AccessFor(sql, Analyze(sql), pol, r, newFakeObjects(), breakGlass)
}

// TestAccessRefusals lists statements each role must not run, with the
// SQLSTATE and a part of the message that names what refused it.
func TestAccessRefusals(t *testing.T) {
	pol := loadAccessPolicy(t)
	cases := []struct{ role, sql, code, msg string }{
		{"billing", "SELECT body FROM notes", "42501", `permission denied for column public.notes.body`},
		{"billing", "SELECT * FROM notes", "42501", `public.notes.body`},
		{"billing", "SELECT n FROM notes n", "42501", `public.notes.body`},
		{"billing", "SELECT row_to_json(n) FROM notes n", "42501", `notes.body`},
		{"billing", "SELECT ssn FROM patients WHERE ssn = '1'", "42501", `masked for role billing`},
		{"billing", "SELECT lower(ssn) FROM patients", "42501", `public.patients.ssn is masked`},
		{"billing", "SELECT ssn FROM patients ORDER BY 1", "42501", `ORDER BY`},
		{"billing", "SELECT ssn AS s FROM patients ORDER BY s", "42501", `ORDER BY`},
		{"billing", "SELECT ssn FROM patients UNION SELECT 'x'", "42501", `set operation`},
		{"billing", "SELECT x FROM (SELECT ssn AS x FROM patients) s WHERE x LIKE '1%'", "42501", `ssn is masked`},
		{"billing", "WITH c AS (SELECT ssn FROM patients) SELECT 1 FROM c WHERE ssn = '1'", "42501", `ssn is masked`},
		{"billing", "SELECT 1 FROM patients WHERE EXISTS (SELECT ssn FROM patients)", "42501", `ssn is masked`},
		{"billing", "SELECT DISTINCT ssn FROM patients", "42501", `DISTINCT`},
		{"billing", "SELECT first FROM patients p JOIN patients q USING (first)", "42501", `JOIN USING`},
		{"billing", "COPY patients TO STDOUT", "42501", `COPY`},
		{"billing", "COPY patients (id, ssn) TO STDOUT", "42501", `COPY`},
		{"billing", "SELECT p FROM patients p", "42501", `whole-row`},
		{"billing", "SELECT to_json(p.*) FROM patients p", "42501", `whole-row`},
		{"billing", "SELECT ssn::text FROM patients", "42501", `ssn is masked`},
		{"billing", "SELECT (SELECT ssn FROM patients LIMIT 1)", "42501", `ssn is masked`},
		{"billing", "SELECT count(*) FROM patients GROUP BY ssn", "42501", `ssn is masked`},
		{"billing", "SELECT 1 FROM patients a JOIN patients b ON a.ssn = b.ssn", "42501", `ssn is masked`},
		{"billing", "CREATE TABLE x AS SELECT ssn FROM patients", "42501", `ddl statement`},
		{"billing", "SELECT set_config('search_path', 'evil', false)", "42501", `set_config`},
		{"billing", "INSERT INTO notes (body) VALUES ('x')", "42501", `write statement`},
		{"billing", "SELECT * FROM patient_view", "42501", `view`},
		{"billing", "SELECT * FROM pg_stats", "42501", `relation pg_stats holds statistics`},
		{"billing", "SELECT * FROM nosuchtable", "42501", `unknown`},
		{"billing", "SELECT pg_read_file('/etc/passwd')", "42501", `function pg_read_file is not allowed`},
		{"billing", "SELECT query_to_xml('select * from patients', true, true, '')", "42501", `query_to_xml`},
		{"billing", "SELECT public.my_func()", "42501", `function public.my_func`},
		{"billing", "SELECT 1 WHERE 1 === 1", "42501", `operator === `},
		{"billing", "SET search_path = evil, public", "42501", `SET search_path`},
		{"billing", "SET ROLE admin", "42501", `SET role`},
		{"billing", "SET SESSION AUTHORIZATION admin", "42501", `session_authorization`},
		{"billing", "DO $$ BEGIN END $$", "42501", `DO blocks`},
		{"billing", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", "42501", `creating functions`},
		{"billing", "CREATE VIEW v AS SELECT 1", "42501", `creating views`},
		{"billing", "PREPARE p AS SELECT 1", "42501", `PREPARE`},
		{"billing", "SELEC 1", "42601", `cannot analyse`},
		{"billing", "SET phiguard.break_glass = 'because I really need it'", "42501", `may not break the glass`},
		{"clinician", "SET phiguard.break_glass = 'urgent'", "42501", `at least 3 words`},
		{"clinician", "INSERT INTO patients (id, city) VALUES ('00000000-0000-0000-0000-000000000001', 'x') ON CONFLICT (id) DO UPDATE SET city = 'y'", "42501", `ON CONFLICT DO UPDATE`},
		{"clinician", "MERGE INTO patients p USING providers v ON p.id = v.id WHEN MATCHED THEN DELETE", "42501", `MERGE`},
		{"clinician", "COPY patients TO STDOUT", "42501", `COPY public.patients TO would bypass`},
		{"clinician", "COPY patients FROM STDIN", "42501", `COPY FROM`},
		{"clinician", "UPDATE patients SET id = (SELECT id FROM providers LIMIT 1)", "42501", `column id, which the rule reads, is not a constant`},
		{"clinician", "EXPLAIN ANALYZE SELECT * FROM patients", "42501", `EXPLAIN`},
		{"clinician", "TRUNCATE patients", "42501", `rows the role cannot see`},
		{"clinician", "SELECT * FROM patients TABLESAMPLE SYSTEM (50)", "42501", `TABLESAMPLE`},
		{"clinician", "INSERT INTO patients DEFAULT VALUES", "42501", `DEFAULT VALUES`},
	}
	for _, c := range cases {
		acc := accessFor(t, pol, c.role, c.sql, false)
		if acc.Refusal == nil {
			t.Errorf("%s: %q was not refused (sent %q)", c.role, c.sql, acc.SQL)
			continue
		}
		if string(acc.Refusal.Code) != c.code || !strings.Contains(acc.Refusal.Error(), c.msg) {
			t.Errorf("%s: %q refused with %s %q, want %s containing %q", c.role, c.sql, acc.Refusal.Code, acc.Refusal.Error(), c.code, c.msg)
		}
		if acc.Changed || acc.SQL != c.sql {
			t.Errorf("%s: refused %q but its text changed", c.role, c.sql)
		}
	}
}

// TestAccessRewrites checks what the rewriter sends for statements it lets
// through.
func TestAccessRewrites(t *testing.T) {
	pol := loadAccessPolicy(t)
	cases := []struct {
		role, sql string
		want      []string // parts of the rewritten text
	}{
		{"clinician", "SELECT id FROM patients WHERE city BETWEEN 'a' AND 'm' AND city NOT BETWEEN SYMMETRIC 'x' AND 'q'",
			[]string{"WHERE city BETWEEN 'a' AND 'm' AND city NOT BETWEEN SYMMETRIC 'x' AND 'q'"}},
		{"clinician", "SELECT * FROM patients WHERE ssn = $1",
			[]string{"FROM (SELECT * FROM public.patients WHERE id OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams WHERE clinician OPERATOR(pg_catalog.=) current_user) AND ssn = $1 OFFSET 0) patients WHERE ssn = $1"}},
		{"clinician", `SELECT p.city FROM public."patients" p JOIN notes n ON n.patient = p.id`,
			[]string{"FROM (SELECT * FROM public.patients WHERE id OPERATOR(pg_catalog.=) ANY", "OFFSET 0) p JOIN (SELECT * FROM public.notes WHERE patient OPERATOR(pg_catalog.=) ANY"}},
		{"clinician", "SELECT 1 FROM providers WHERE id IN (SELECT id FROM (SELECT id FROM PATIENTS) x)",
			[]string{"FROM (SELECT * FROM public.patients WHERE id OPERATOR(pg_catalog.=) ANY"}},
		{"clinician", `SELECT * FROM U&"p\0061tients"`, []string{"FROM (SELECT * FROM public.patients WHERE"}},
		{"clinician", "WITH RECURSIVE r AS (SELECT id FROM patients UNION SELECT id FROM r) SELECT * FROM r",
			[]string{"WITH RECURSIVE r AS (SELECT id FROM (SELECT * FROM public.patients WHERE"}},
		{"clinician", "SELECT * FROM providers p, LATERAL (SELECT * FROM notes n WHERE n.patient = p.id) x",
			[]string{"LATERAL (SELECT * FROM (SELECT * FROM public.notes WHERE patient OPERATOR(pg_catalog.=) ANY"}},
		{"clinician", "UPDATE patients SET city = 'x' WHERE id = $1",
			[]string{"WHERE id OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams WHERE clinician OPERATOR(pg_catalog.=) current_user) AND id = $1"}},
		{"clinician", "UPDATE patients SET city = 'x' WHERE id = $1 AND city LIKE $2",
			[]string{"WHERE (id OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams WHERE clinician OPERATOR(pg_catalog.=) current_user) AND id = $1) AND CASE WHEN id OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams WHERE clinician OPERATOR(pg_catalog.=) current_user) THEN (id = $1 AND city LIKE $2) ELSE false END"}},
		{"clinician", "DELETE FROM notes USING patients WHERE notes.patient = patients.id",
			[]string{"USING (SELECT * FROM public.patients WHERE", "WHERE notes.patient OPERATOR(pg_catalog.=) ANY (SELECT"}},
		{"clinician", "INSERT INTO notes (id, patient, body) VALUES (1, $1, 'hello')",
			[]string{"VALUES (CASE WHEN $1 OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams WHERE clinician OPERATOR(pg_catalog.=) current_user) THEN 1::int", "pg_catalog.concat('phiguard_rowcheck_"}},
		{"clinician", "INSERT INTO notes (id, patient, body) SELECT id, patient, body FROM notes",
			[]string{"SELECT * FROM (SELECT id, patient, body FROM (SELECT * FROM public.notes WHERE", ") phiguard_new(id, patient, body) WHERE CASE WHEN phiguard_new.patient OPERATOR(pg_catalog.=) ANY"}},
		{"clinician", "COPY (SELECT * FROM patients) TO STDOUT", []string{"COPY (SELECT * FROM (SELECT * FROM public.patients WHERE"}},
		{"clinician", "DECLARE c CURSOR FOR SELECT * FROM patients", []string{"CURSOR FOR SELECT * FROM (SELECT * FROM public.patients WHERE"}},
		{"billing", "SELECT ssn, first, city FROM patients", []string{"SELECT ssn, first, city FROM patients"}},
		{"billing", "SELECT s.x FROM (SELECT ssn AS x FROM patients) s", []string{"SELECT s.x FROM (SELECT ssn AS x FROM patients) s"}},
	}
	for _, c := range cases {
		acc := accessFor(t, pol, c.role, c.sql, false)
		if acc.Refusal != nil {
			t.Errorf("%s: %q refused: %v", c.role, c.sql, acc.Refusal)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(acc.SQL, w) {
				t.Errorf("%s: %q\n  sent %q\n  want it to contain %q", c.role, c.sql, acc.SQL, w)
			}
		}
	}
}

func TestBreakGlassLiftsRowRules(t *testing.T) {
	pol := loadAccessPolicy(t)
	acc := accessFor(t, pol, "clinician", "SET phiguard.break_glass = 'patient unconscious in ER'", false)
	if acc.Refusal != nil || acc.BreakGlass == nil || acc.BreakGlass.Reason != "patient unconscious in ER" {
		t.Fatalf("break-glass request: %+v %v", acc.BreakGlass, acc.Refusal)
	}
	acc = accessFor(t, pol, "clinician", "SELECT * FROM patients", true)
	if acc.Refusal != nil || acc.Changed {
		t.Fatalf("with break-glass on, the row rule still applies: %q %v", acc.SQL, acc.Refusal)
	}
}

func TestUnrestrictedRoleIsUntouched(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{"SELECT * FROM patient_view", "DO $$ BEGIN END $$", "SELEC 1"} {
		if acc := accessFor(t, pol, "admin", sql, false); acc.Refusal != nil || acc.Changed {
			t.Errorf("admin: %q: %v %q", sql, acc.Refusal, acc.SQL)
		}
	}
}

func TestWriteCheckRefusal(t *testing.T) {
	pol := loadAccessPolicy(t)
	acc := accessFor(t, pol, "clinician", "INSERT INTO notes (id, patient, body) VALUES (1, $1, 'x')", false)
	i := strings.Index(acc.SQL, "phiguard_rowcheck_")
	if i < 0 {
		t.Fatalf("no check in %q", acc.SQL)
	}
	msg := `invalid input syntax for type boolean: "` + acc.SQL[i:i+34] + `12345"`
	r, ok := WriteCheckRefusal(msg)
	if !ok || r.Code != "42501" || !strings.Contains(r.Error(), "clinician: rows of public.notes") {
		t.Fatalf("WriteCheckRefusal(%q) = %v, %v", msg, r, ok)
	}
	if _, ok := WriteCheckRefusal(`invalid input syntax for type boolean: "phiguard_rowcheck_0000000000000000"`); ok {
		t.Fatal("an unknown marker was taken for a check")
	}
}
