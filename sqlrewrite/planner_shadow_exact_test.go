package sqlrewrite

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestExactShadowProbe: a proxy-side WHERE whose operators' operand
// types are known from the text (a parameter's assumed undeclared) is
// checked by one regoperator constant per operator, of exactly the
// signature PostgreSQL's own first lookup uses; a filter whose types are
// not known here (a column right of its operator) or that pg_catalog has
// no exact operator for (a varchar cast) keeps the pg_operator scan for
// the whole WHERE.
func TestExactShadowProbe(t *testing.T) {
	pol := testPolicy(t)
	sigs := regexp.MustCompile(`CAST\('([^']+)' AS pg_catalog\.regoperator\)`)
	for _, c := range []struct {
		sql  string
		want []string // nil: the scan
	}{
		{"SELECT id FROM patients WHERE first ILIKE 'smi%'", []string{"~~*(text,text)"}},
		{"SELECT id FROM patients WHERE first NOT LIKE 'a%' ESCAPE '!'", []string{"!~~(text,text)"}},
		{"SELECT id FROM patients WHERE first ILIKE $1 ESCAPE '!'", []string{"~~*(text,text)"}},
		{"SELECT id FROM patients WHERE birthdate BETWEEN '1950-01-01' AND '1950-03-31' ORDER BY birthdate LIMIT 5", []string{">=(date,date)", "<=(date,date)"}},
		{"SELECT id FROM patients WHERE birthdate NOT BETWEEN SYMMETRIC '1950-01-01' AND '1950-03-31'", []string{"<(date,date)", ">(date,date)"}},
		{"SELECT id FROM patients WHERE birthdate < '1950-01-01'::timestamptz", []string{"<(date,timestamptz)"}},
		{"SELECT id FROM patients WHERE lower(first) = 'ann' AND birthdate IS DISTINCT FROM NULL", []string{"=(text,text)", "=(date,date)"}},
		{"SELECT id FROM admissions WHERE visits > 3 AND amount <= 2.5", []string{">(int4,int4)", "<=(numeric,numeric)"}},
		{"SELECT id FROM admissions WHERE visits > 30000000000", []string{">(int4,int8)"}},
		{"SELECT id FROM patients WHERE first > $1", []string{">(text,text)"}},
		{"SELECT id FROM patients WHERE first > $1::varchar", nil},
		{"SELECT id FROM patients WHERE first = lower($1)", []string{"=(text,text)"}},
		{"SELECT id FROM patients WHERE 'M' < first", nil},
		{"SELECT id FROM patients WHERE first = 'M'::varchar", nil},
		{"SELECT id FROM patients WHERE first ILIKE 'a%' AND birthdate > $1", []string{"~~*(text,text)", ">(date,date)"}},
		// A bit string is bit, not an untyped literal: no exact text = bit.
		{"SELECT id FROM patients WHERE first = B'101'", nil},
		{"SELECT id FROM patients WHERE first <> X'1F'", nil},
		// -2147483648 is int4 (a negated constant that fits).
		{"SELECT id FROM admissions WHERE visits > -2147483648", []string{">(int4,int4)"}},
		{"SELECT id FROM admissions WHERE visits > -2147483649", []string{">(int4,int8)"}},
	} {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil || len(plan.Sort.Shadow) == 0 {
			t.Fatalf("%s: no probe (%v)", c.sql, plan.Refusal)
		}
		out, err := RewriteSort([]byte(c.sql), plan.Sort)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		var got []string
		for _, m := range sigs.FindAllStringSubmatch(string(out), -1) {
			got = append(got, strings.ReplaceAll(m[1], "pg_catalog.", ""))
		}
		scan := strings.Contains(string(out), "pg_catalog.pg_operator o")
		if c.want == nil && (!scan || got != nil) || c.want != nil && (scan || !slices.Equal(got, c.want)) {
			t.Errorf("%s: lookups %v (scan %v), want %v\n%s", c.sql, got, scan, c.want, out)
		}
	}
}

// TestWidenGate: a parameter whose type in the Parse (declared, or
// inferred from the column) is another than the exact lookup assumed, or
// not known (0), gets the pg_operator scan in its place; one of that type
// keeps the lookup.
func TestWidenGate(t *testing.T) {
	pol := testPolicy(t)
	const sql = "SELECT id FROM patients WHERE first > $1 AND birthdate >= '2000-01-01' ORDER BY first LIMIT 3"
	sp := PlanFor(Analyze(sql), pol).Sort
	out, err := RewriteSort([]byte(sql), sp)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		declared uint32
		holds    bool
	}{{0, false}, {25, true}, {1043, false}, {705, false}} {
		if got := sp.ExactGateHolds(func(int) uint32 { return c.declared }); got != c.holds {
			t.Errorf("declared %d: holds %v, want %v", c.declared, got, c.holds)
		}
	}
	wide, ok := sp.WidenGate(out)
	if !ok || strings.Contains(string(wide), "regoperator") || !strings.Contains(string(wide), "pg_catalog.pg_operator o") ||
		strings.Replace(string(wide), sp.shadowGateWith(false), sp.shadowGateWith(true), 1) != string(out) {
		t.Fatalf("widened (%v):\n%s\nfrom\n%s", ok, wide, out)
	}
	if _, ok := sp.WidenGate([]byte("SELECT 1")); ok {
		t.Fatal("a text without the gate was widened")
	}
}

// TestCastTypeChecks: a constant cast to a type named without a schema
// adds to the gate the check that the name is pg_catalog's type (the
// session's pg_temp or a schema before pg_catalog may have its own), in
// the exact form and in the scan alike; a qualified name or the
// grammar's own keywords (int, numeric) add none.
func TestCastTypeChecks(t *testing.T) {
	pol := testPolicy(t)
	checks := regexp.MustCompile(`CAST\('([^']+)' AS pg_catalog\.regtype\) AS pg_catalog.oid\) OPERATOR\(pg_catalog.=\) CAST\((\d+) `)
	for _, c := range []struct{ sql, want string }{
		{"SELECT id FROM patients WHERE birthdate < '1960-01-01'::date", `"date"=1082`},
		{"SELECT id FROM patients WHERE birthdate < date '1960-01-01' AND birthdate > CAST('1950-01-01' AS date)", `"date"=1082`},
		{"SELECT id FROM admissions WHERE visits > '3'::int4 AND amount < '2'::numeric AND seen > $1::timestamp", `"int4"=23`},
		{"SELECT id FROM patients WHERE first > upper('m'::text) OR birthdate >= '1960-01-01'::timestamptz", `"text"=25 "timestamptz"=1184`},
		{"SELECT id FROM patients WHERE birthdate < '1960-01-01'::pg_catalog.date", ""},
		{"SELECT id FROM patients WHERE birthdate < '1960-01-01'", ""},
	} {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil || len(plan.Sort.Shadow) == 0 {
			t.Fatalf("%s: no probe (%v)", c.sql, plan.Refusal)
		}
		out, err := RewriteSort([]byte(c.sql), plan.Sort)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		var got []string
		for _, m := range checks.FindAllStringSubmatch(string(out), -1) {
			got = append(got, m[1]+"="+m[2])
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: type checks %v, want %q\n%s", c.sql, got, c.want, out)
		}
	}
}

// TestPrefixSignCheck: a constant under a sign PostgreSQL calls as a
// prefix operator adds the check of prefix operators to the gate; a
// negative number, folded by the grammar, does not.
func TestPrefixSignCheck(t *testing.T) {
	pol := testPolicy(t)
	for sql, want := range map[string]bool{
		"SELECT id FROM admissions WHERE visits > +5":                      true,
		"SELECT id FROM admissions WHERE visits > -'5'::int4":              true,
		"SELECT id FROM admissions WHERE visits BETWEEN -(5::int4) AND 30": true,
		"SELECT id FROM admissions WHERE visits > -5":                      false,
		"SELECT id FROM admissions WHERE visits > - 2147483648":            false,
		"SELECT id FROM admissions WHERE visits > $1":                      false,
	} {
		plan := PlanFor(Analyze(sql), pol)
		if plan.Sort == nil || len(plan.Sort.Shadow) == 0 {
			t.Fatalf("%s: no probe (%v)", sql, plan.Refusal)
		}
		out, err := RewriteSort([]byte(sql), plan.Sort)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if got := strings.Contains(string(out), prefixCondition); got != want {
			t.Errorf("%s: prefix check %v, want %v\n%s", sql, got, want, out)
		}
	}
}
