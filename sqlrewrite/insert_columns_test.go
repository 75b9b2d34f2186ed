package sqlrewrite

import (
	"testing"

	"github.com/phiguard/phiguard/policy"
)

func TestWithColumnList(t *testing.T) {
	pol := testPolicy(t)
	columns := func(tn policy.TableName) []string {
		if tn.Name == "patients" {
			return []string{"id", "ssn", "First Name", "birthdate"}
		}
		return []string{"member_ssn"}
	}
	for sql, want := range map[string]string{
		"INSERT INTO patients VALUES (1, 'x')":                            `INSERT INTO patients (id, ssn) VALUES (1, 'x')`,
		"insert into public.patients as p values (1,'x','y'),(2,'z','w')": `insert into public.patients as p (id, ssn, "First Name") values (1,'x','y'),(2,'z','w')`,
		"INSERT INTO patients OVERRIDING SYSTEM VALUE VALUES (1)":         `INSERT INTO patients (id) OVERRIDING SYSTEM VALUE VALUES (1)`,
		"INSERT INTO billing.claims VALUES ('x') RETURNING *":             `INSERT INTO billing.claims (member_ssn) VALUES ('x') RETURNING *`,
		// Nothing to fill, or rows that cannot be matched: left to the planner.
		"INSERT INTO patients (id) VALUES (1)":        "",
		"INSERT INTO patients VALUES (1), (2, 'x')":   "",
		"INSERT INTO patients VALUES (1, 2, 3, 4, 5)": "",
		"INSERT INTO patients SELECT * FROM patients": "",
		"INSERT INTO encounters VALUES (1)":           "",
		"INSERT INTO patients DEFAULT VALUES":         "",
		"INSERT INTO patients VALUES (1); SELECT 1":   "",
	} {
		got, ok := WithColumnList(sql, pol, columns)
		if want == "" && ok || want != "" && got != want {
			t.Errorf("%s:\n got %q (%v)\nwant %q", sql, got, ok, want)
		}
	}
}

func TestWithCopyColumnList(t *testing.T) {
	pol := testPolicy(t)
	cols := func(policy.TableName) []string { return []string{"id", "ssn", "Odd Name"} }
	for sql, want := range map[string]string{
		"COPY patients FROM STDIN":                                 `COPY patients (id, ssn, "Odd Name") FROM STDIN`,
		"COPY public . patients TO STDOUT (FORMAT csv)":            `COPY public . patients (id, ssn, "Odd Name") TO STDOUT (FORMAT csv)`,
		`COPY "public"."patients" FROM STDIN WITH (FORMAT binary)`: `COPY "public"."patients" (id, ssn, "Odd Name") FROM STDIN WITH (FORMAT binary)`,
		"COPY patients (ssn) FROM STDIN":                           "",
		"COPY encounters FROM STDIN":                               "",
		"COPY (SELECT 1) TO STDOUT":                                "",
	} {
		got, ok := WithCopyColumnList(sql, pol, cols)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("%s: %q, want %q", sql, got, want)
		}
	}
}
