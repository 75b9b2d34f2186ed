package sqlrewrite

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

func TestGuardNoDefaults(t *testing.T) {
	pol := testPolicy(t)
	tbl, _ := pol.Table("public", "patients")
	ssn, _ := tbl.Column("ssn")
	first, _ := tbl.Column("first")
	const check = "NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass('patients') AND a.attname IN ('ssn')"
	for _, c := range []struct {
		in      string
		guarded string // a fragment the guarded text must hold
	}{
		// Left out: the first left out is added with the guard.
		{"INSERT INTO patients (id, note) VALUES (1, 'x'), (2, 'y')", `INSERT INTO patients (id, note, ssn) VALUES (1, 'x', CASE WHEN`},
		{"INSERT INTO patients (id, note) VALUES (1, 'x' -- c\n), (2, 'y') -- end", ", NULL)"},
		// Named with DEFAULT: it becomes the guarded NULL.
		{"INSERT INTO patients (id, note, ssn) VALUES (1, 'x', DEFAULT)", "THEN NULL ELSE"},
		// Another encrypted column named: its value carries the guard.
		{"INSERT INTO patients (id, first) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", "THEN $1 ELSE"},
		{"INSERT INTO patients (id, first) VALUES (1, '~phg~c1') RETURNING *", "THEN '~phg~c1' ELSE"},
		{"UPDATE patients SET note = 'x', ssn = DEFAULT WHERE id = 1", "ssn = CASE WHEN"},
	} {
		out, ok := GuardNoDefaults(c.in, pol, []*policy.ProtectedColumn{ssn}, nil)
		if !ok {
			t.Errorf("%s: no guard", c.in)
			continue
		}
		if !strings.Contains(out, check) || !strings.Contains(out, c.guarded) || !strings.Contains(out, "ELSE pg_catalog.current_setting('phiguard_default_added:public.patients') END") {
			t.Errorf("%s: guarded as\n%s", c.in, out)
		}
		tree, err := pg_query.Parse(out)
		if err != nil {
			t.Errorf("%s: the guarded text does not parse: %v\n%s", c.in, err, out)
		} else if dep, _ := pg_query.Deparse(tree); !strings.Contains(dep, "phiguard_default_added") {
			t.Errorf("%s: the guard is not in the statement PostgreSQL parses:\n%s", c.in, out)
		}
	}
	// Every column left to its default is checked.
	out, ok := GuardNoDefaults("INSERT INTO patients (id) VALUES (1)", pol, []*policy.ProtectedColumn{ssn, first}, nil)
	if !ok || !strings.Contains(out, "a.attname IN ('ssn', 'first')") {
		t.Errorf("two columns: %v\n%s", ok, out)
	}
	// Shapes with no place for the guard come back unchanged, false.
	for _, in := range []string{"INSERT INTO patients (id) SELECT 1 UNION SELECT 2", "INSERT INTO patients (id) TABLE other", "SELECT 1",
		"INSERT INTO elsewhere (id) VALUES (1)", "UPDATE patients SET note = DEFAULT", "INSERT INTO patients (id) VALUES (1); SELECT 1"} {
		if out, ok := GuardNoDefaults(in, pol, []*policy.ProtectedColumn{ssn}, nil); ok || out != in {
			t.Errorf("%s: changed to %q (%v)", in, out, ok)
		}
	}
}

func TestDefaultsAddedRefusal(t *testing.T) {
	r, ok := DefaultsAddedRefusal(`unrecognized configuration parameter "phiguard_default_added:public."Pa ""t""`)
	if !ok || r.Table != `public."Pa ""t"` || r.PgError().Code != "40001" || !strings.Contains(r.PgError().Message, "nothing was written") {
		t.Fatalf("%+v %v", r, ok)
	}
	if _, ok := DefaultsAddedRefusal(`unrecognized configuration parameter "phiguard_columns_changed:public.patients"`); ok {
		t.Fatal("the column guard's error taken for the default guard's")
	}
}

// TestGuardNoDefaultsNames: the guard resolves the relation by its parsed
// name, quoted, not by its text as written, which to_regclass may not
// read (a comment inside the name, U&"..."), and raises when the name
// resolves to nothing, since its check would then pass.
func TestGuardNoDefaultsNames(t *testing.T) {
	pol := testPolicy(t)
	tbl, _ := pol.Table("public", "patients")
	ssn, _ := tbl.Column("ssn")
	for in, named := range map[string]string{
		"INSERT INTO public/**/.patients (id) VALUES (1)":   "'public.patients'",
		"INSERT INTO public. /**/ patients (id) VALUES (1)": "'public.patients'",
		`INSERT INTO U&"patients" (id) VALUES (1)`:          "'patients'",
		`INSERT INTO "patients" AS p (id) VALUES (1)`:       "'patients'",
		"UPDATE ONLY public.patients SET ssn = DEFAULT":     "'public.patients'",
	} {
		out, ok := GuardNoDefaults(in, pol, []*policy.ProtectedColumn{ssn}, nil)
		if !ok || !strings.Contains(out, "CASE WHEN pg_catalog.to_regclass("+named+") IS NOT NULL AND NOT EXISTS") ||
			!strings.Contains(out, "a.attrelid = pg_catalog.to_regclass("+named+")") {
			t.Errorf("%s: %v\n%s", in, ok, out)
		}
	}
	out, _ := GuardNoDefaults("INSERT INTO patients (id) VALUES (1)", pol, []*policy.ProtectedColumn{ssn}, nil)
	if !strings.Contains(out, "ty.oid = a.atttypid AND (ty.typdefaultbin IS NOT NULL") {
		t.Errorf("a domain's default is not checked:\n%s", out)
	}
}

// TestGuardNoDefaultsLeavesNoDefault: every DEFAULT of an encrypted
// column becomes NULL and every one left out is added with NULL, so that
// no row takes a default even where the guard's read of pg_attribute
// (a REPEATABLE READ transaction's snapshot) predates the DDL.
func TestGuardNoDefaultsLeavesNoDefault(t *testing.T) {
	pol := testPolicy(t)
	tbl, _ := pol.Table("public", "patients")
	ssn, _ := tbl.Column("ssn")
	first, _ := tbl.Column("first")
	both := []*policy.ProtectedColumn{ssn, first}
	for in, want := range map[string][]string{
		"INSERT INTO patients (id) VALUES (1), (2)": {"INSERT INTO patients (id, ssn, first) VALUES (1, CASE WHEN", "END, NULL), (2, NULL, NULL)"},
		"INSERT INTO patients (id, ssn) VALUES (1, DEFAULT), (2, default) ON CONFLICT (id) DO UPDATE SET ssn = DEFAULT, first = DEFAULT": {
			"INSERT INTO patients (id, ssn, first) VALUES (1, CASE WHEN", "THEN NULL ELSE", "END, NULL), (2, NULL, NULL) ON CONFLICT (id) DO UPDATE SET ssn = NULL, first = NULL"},
		"UPDATE patients SET ssn = DEFAULT, note = DEFAULT, first = DEFAULT": {"SET ssn = CASE WHEN", "END, note = DEFAULT, first = NULL"},
	} {
		out, ok := GuardNoDefaults(in, pol, both, nil)
		for _, w := range want {
			if !ok || !strings.Contains(out, w) {
				t.Errorf("%s: want %q in\n%s", in, w, out)
			}
		}
		if strings.Count(out, "CASE WHEN") != 1 {
			t.Errorf("%s: one guard wanted:\n%s", in, out)
		}
		if _, err := pg_query.Parse(out); err != nil {
			t.Errorf("%s: %v\n%s", in, err, out)
		}
	}
}

// TestGuardNoDefaultsNoPlace: an INSERT ... VALUES whose VALUES the text
// scan does not find (in parentheses) comes back "", false, for the
// caller to refuse: sent as it is, it ran with no guard.
func TestGuardNoDefaultsNoPlace(t *testing.T) {
	pol := testPolicy(t)
	tbl, _ := pol.Table("public", "patients")
	ssn, _ := tbl.Column("ssn")
	for _, in := range []string{"INSERT INTO patients (id) (VALUES (1))", "INSERT INTO patients (id, ssn) ((VALUES (1, NULL), (2, DEFAULT)))"} {
		if out, ok := GuardNoDefaults(in, pol, []*policy.ProtectedColumn{ssn}, nil); ok || out != "" {
			t.Errorf("%s: %q, %v; want \"\", false", in, out, ok)
		}
	}
}

// TestGuardNoDefaultsCopy: a COPY ... FROM STDIN whose list leaves
// encrypted columns out gets them added at the list's end (the proxy
// sends NULL for them); COPY TO and COPY without a list stay as they are.
func TestGuardNoDefaultsCopy(t *testing.T) {
	pol := testPolicy(t)
	tbl, _ := pol.Table("public", "patients")
	ssn, _ := tbl.Column("ssn")
	first, _ := tbl.Column("first")
	for in, want := range map[string]string{
		"COPY patients (id, note) FROM STDIN":                             `COPY patients (id, note, ssn, first) FROM STDIN`,
		"COPY public . /* ( */ patients(id) FROM STDIN WITH (FORMAT csv)": `COPY public . /* ( */ patients(id, ssn, first) FROM STDIN WITH (FORMAT csv)`,
		`COPY "patients" ( "id" -- )` + "\n) FROM STDIN (FORMAT binary)":  `COPY "patients" ( "id" -- )` + "\n, ssn, first) FROM STDIN (FORMAT binary)",
	} {
		out, ok := GuardNoDefaults(in, pol, []*policy.ProtectedColumn{ssn, first}, nil)
		if !ok || out != want {
			t.Errorf("%s: got %q (%v), want %q", in, out, ok, want)
		}
		if _, err := pg_query.Parse(out); err != nil {
			t.Errorf("%s: %q does not parse: %v", in, out, err)
		}
	}
	for _, in := range []string{"COPY patients TO STDOUT", "COPY patients (id) TO STDOUT", "COPY patients FROM STDIN", "COPY elsewhere (id) FROM STDIN"} {
		if out, ok := GuardNoDefaults(in, pol, []*policy.ProtectedColumn{ssn}, nil); ok || out != in {
			t.Errorf("%s: changed to %q (%v)", in, out, ok)
		}
	}
}
