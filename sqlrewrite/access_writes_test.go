package sqlrewrite

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRuleInputsAreReadOnly: a table the role's row rules read (care_teams
// for the clinician) cannot be written by the role in any way, break-glass
// or not, and the refusal names the table, the rule and the escalation.
func TestRuleInputsAreReadOnly(t *testing.T) {
	pol := loadAccessPolicy(t)
	const x = "'00000000-0000-0000-0000-000000000009'"
	for _, sql := range []string{
		"INSERT INTO care_teams (clinician, patient) VALUES ('dr_alice', " + x + ")",
		"INSERT INTO public.care_teams VALUES (current_user, " + x + ")",
		"INSERT INTO care_teams (clinician, patient) SELECT 'dr_alice', id FROM providers",
		"INSERT INTO care_teams (clinician, patient) VALUES ('dr_alice', " + x + ") ON CONFLICT DO NOTHING",
		"INSERT INTO care_teams AS c (clinician, patient) VALUES ('dr_alice', " + x + ") ON CONFLICT (clinician, patient) DO UPDATE SET patient = excluded.patient",
		"UPDATE care_teams SET patient = " + x + " WHERE clinician = 'dr_alice'",
		"UPDATE care_teams c SET clinician = 'dr_alice' FROM providers p WHERE p.id = c.patient",
		"DELETE FROM care_teams WHERE clinician = 'dr_bob'",
		"WITH i AS (INSERT INTO care_teams VALUES ('dr_alice', " + x + ") RETURNING 1) SELECT * FROM i",
		"MERGE INTO care_teams c USING providers p ON c.patient = p.id WHEN NOT MATCHED THEN INSERT VALUES ('dr_alice', p.id)",
		"COPY care_teams FROM STDIN",
		"COPY public.care_teams (clinician, patient) FROM STDIN",
		"TRUNCATE care_teams",
		"DROP TABLE care_teams",
		"ALTER TABLE care_teams RENAME TO old_teams",
		"ALTER TABLE providers RENAME TO care_teams",
		"CREATE TABLE care_teams (clinician text, patient uuid)",
	} {
		for _, glass := range []bool{false, true} {
			acc := accessFor(t, pol, "clinician", sql, glass)
			if acc.Refusal == nil {
				t.Errorf("break-glass %v: %q was not refused (sent %q)", glass, sql, acc.SQL)
				continue
			}
			msg := acc.Refusal.Error()
			if acc.Refusal.Code != "42501" || !strings.Contains(msg, "care_teams") || !strings.Contains(msg, `clinician: rows of public.patients`) || !strings.Contains(msg, "roles.clinician.writes_rule_tables") {
				t.Errorf("break-glass %v: %q refused with %s %q, want 42501 naming care_teams, the rule and writes_rule_tables", glass, sql, acc.Refusal.Code, msg)
			}
		}
	}
	// Reading the table, and writing tables no rule reads, go on as before.
	for _, sql := range []string{
		"SELECT * FROM care_teams",
		"INSERT INTO providers (id, name) VALUES (" + x + ", 'x')",
		"UPDATE providers SET name = 'y'",
	} {
		if acc := accessFor(t, pol, "clinician", sql, false); acc.Refusal != nil {
			t.Errorf("%q refused: %v", sql, acc.Refusal)
		}
	}
}

// TestWritesRuleTablesAllows: the explicit escalation lets the role write
// the table it lists, and only that one.
func TestWritesRuleTablesAllows(t *testing.T) {
	b, err := os.ReadFile("testdata/access-policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), "    break_glass: true\n", "    break_glass: true\n    writes_rule_tables: [care_teams]\n", 1)
	pol, err := ParsePolicy([]byte(src))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"INSERT INTO care_teams (clinician, patient) VALUES ('dr_alice', '00000000-0000-0000-0000-000000000009')",
		"DELETE FROM care_teams WHERE clinician = 'dr_bob'",
	} {
		if acc := accessFor(t, pol, "clinician", sql, false); acc.Refusal != nil {
			t.Errorf("with writes_rule_tables: %q refused: %v", sql, acc.Refusal)
		}
	}
}

// TestUpdateWithCheck: an UPDATE that assigns a column the rule reads is
// checked as RLS WITH CHECK would: the new row must pass the rule.
func TestUpdateWithCheck(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, c := range []struct{ sql, want string }{
		{"UPDATE notes SET patient = $1 WHERE id = 11",
			"SET patient = CASE WHEN $1 OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams WHERE clinician OPERATOR(pg_catalog.=) current_user) THEN $1::uuid ELSE CASE WHEN pg_catalog.concat('phiguard_rowcheck_"},
		// The user's CTE cannot stand in for the table the check reads.
		{"WITH care_teams(clinician, patient) AS (VALUES ('dr_alice', $1::uuid)) UPDATE notes SET patient = $1 WHERE id = 11",
			"SET patient = CASE WHEN $1 OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams WHERE"},
		{"UPDATE notes n SET body = 'x', patient = $1 FROM providers p WHERE p.id = n.patient",
			"SET body = CASE WHEN $1 OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams WHERE clinician OPERATOR(pg_catalog.=) current_user) THEN 'x'::text ELSE"},
		{"UPDATE patients SET city = 'x', id = '00000000-0000-0000-0000-000000000002'",
			"SET city = CASE WHEN '00000000-0000-0000-0000-000000000002' OPERATOR(pg_catalog.=) ANY (SELECT patient FROM public.care_teams"},
	} {
		acc := accessFor(t, pol, "clinician", c.sql, false)
		if acc.Refusal != nil || !strings.Contains(acc.SQL, c.want) {
			t.Errorf("%q\n  sent %q (%v)\n  want it to contain %q", c.sql, acc.SQL, acc.Refusal, c.want)
		}
	}
	// What cannot be put into the rule is an unchecked write: refused
	// under unchecked_writes: refuse (patients), let through under allow
	// (notes), and no check added when no column the rule reads changes.
	for sql, want := range map[string]string{
		"UPDATE patients SET id = (SELECT id FROM providers LIMIT 1)":               "is not a constant or parameter",
		"UPDATE patients SET (id, city) = (SELECT id, name FROM providers LIMIT 1)": "is not a constant or parameter",
	} {
		acc := accessFor(t, pol, "clinician", sql, false)
		if acc.Refusal == nil || !strings.Contains(acc.Refusal.Error(), want) || !strings.Contains(acc.Refusal.Error(), "clinician: rows of public.patients") {
			t.Errorf("%q: %v, want a refusal containing %q", sql, acc.Refusal, want)
		}
	}
	for _, sql := range []string{"UPDATE notes SET patient = (SELECT id FROM providers LIMIT 1)", "UPDATE notes SET body = 'x'"} {
		acc := accessFor(t, pol, "clinician", sql, false)
		if acc.Refusal != nil || strings.Contains(acc.SQL, "phiguard_rowcheck_") {
			t.Errorf("%q: sent %q (%v), want no check", sql, acc.SQL, acc.Refusal)
		}
	}
}

// TestUpdateWithCheckRunsInPostgreSQL runs the checked UPDATEs as the
// clinician on a real PostgreSQL: a note moved to another of her patients
// goes through, one moved to a patient she cannot see fails with the
// rule's marker and changes nothing.
func TestUpdateWithCheckRunsInPostgreSQL(t *testing.T) {
	ctx, pg, admin := startPostgres(t)
	var err error
	if _, err := admin.Exec(ctx, `
CREATE TABLE patients (id uuid PRIMARY KEY, ssn text, first text, city text);
CREATE TABLE care_teams (clinician text, patient uuid);
CREATE TABLE notes (id integer PRIMARY KEY, patient uuid, body text);
CREATE TABLE providers (id uuid, name text);
CREATE ROLE dr_alice LOGIN PASSWORD 'alice-pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO dr_alice;
INSERT INTO patients SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid FROM generate_series(1, 9) i;
INSERT INTO care_teams SELECT 'dr_alice', id FROM patients WHERE id <= '00000000-0000-0000-0000-000000000003';
INSERT INTO notes SELECT 10 * i, ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'n' FROM generate_series(1, 9) i;
INSERT INTO providers SELECT id, 'p' FROM patients;
`); err != nil {
		t.Fatal(err)
	}
	alice, err := pgx.Connect(ctx, pg.URL("dr_alice", "alice-pw", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close(ctx)
	pol := loadAccessPolicy(t)
	role, _ := pol.Role("clinician")
	run := func(sql string, args ...any) error {
		acc := AccessFor(sql, Analyze(sql), pol, role, newFakeObjects(), false)
		if acc.Refusal != nil {
			return acc.Refusal
		}
		_, err := alice.Exec(ctx, acc.SQL, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
		return err
	}
	patientOf := func(note int) string {
		var p string
		if err := admin.QueryRow(ctx, "SELECT patient::text FROM notes WHERE id = $1", note).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const mine, hidden = "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000009"
	if err := run("UPDATE notes SET patient = $1 WHERE id = 10", mine); err != nil || patientOf(10) != mine {
		t.Errorf("moving a note to another of her patients: %v", err)
	}
	for _, sql := range []string{
		"UPDATE notes SET patient = $1 WHERE id = 30",
		"UPDATE notes n SET body = 'moved', patient = $1 FROM providers p WHERE p.id = n.patient",
	} {
		err := run(sql, hidden)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			t.Errorf("%s: %v, want the rule's check to fail", sql, err)
			continue
		}
		if r, ok := WriteCheckRefusal(pgErr.Message); !ok || r.Code != "42501" || !strings.Contains(r.Error(), "clinician: rows of public.notes") {
			t.Errorf("%s: failed with %q, not the rule's check", sql, pgErr.Message)
		}
	}
	if patientOf(30) != "00000000-0000-0000-0000-000000000003" {
		t.Error("a refused UPDATE moved the note")
	}
	// A hidden row is not touched, so its check never runs.
	if err := run("UPDATE notes SET patient = $1 WHERE id = 90", hidden); err != nil {
		t.Errorf("UPDATE of a hidden row: %v, want no rows and no error", err)
	}
}
