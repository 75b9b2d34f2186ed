package sqlrewrite

import (
	"regexp"
	"slices"
	"testing"
)

// TestShadowGateCastNames: a filter's constant cast to a type named
// without its schema ('M'::text, $1::date, inside lower()) puts a
// to_regtype check of that name in the gate, with the exact lookups and
// with the pg_operator scan alike; a name the grammar qualifies (varchar,
// timestamp with time zone, int) or the client did (pg_catalog.text) does not.
// A minus sign the grammar leaves an operator (above a cast)
// puts a to_regoperator check of the prefix - on its operand's
// type there too; one folded into a number (-3, (-2.5)::numeric)
// does not.
func TestShadowGateCastNames(t *testing.T) {
	pol := testPolicy(t)
	minus := regexp.MustCompile(`to_regoperator\('-\(NONE,pg_catalog\.(\w+)\)'\) AS pg_catalog.oid\) OPERATOR\(pg_catalog.=\) CAST\((\d+) AS`)
	names := regexp.MustCompile(`to_regtype\('"([^"]+)"'\) AS pg_catalog.oid\) OPERATOR\(pg_catalog.=\) CAST\((\d+) AS`)
	for _, c := range []struct {
		sql  string
		want []string
	}{
		{"SELECT id FROM patients WHERE first > 'M'::text", []string{"text=25"}},
		{"SELECT id FROM patients WHERE first > $1::text AND birthdate < $2::date", []string{"text=25", "date=1082"}},
		{"SELECT id FROM patients WHERE first = lower($1::text) AND first <> 'x'::text", []string{"text=25"}},
		{"SELECT id FROM patients WHERE first > 'M'::varchar", nil},
		{"SELECT id FROM patients WHERE first > 'M'::pg_catalog.text", nil},
		{"SELECT id FROM patients WHERE birthdate < '1950-01-01'::timestamptz", []string{"timestamptz=1184"}},
		{"SELECT id FROM patients WHERE birthdate < '1950-01-01'::timestamp with time zone", nil},
		{"SELECT id FROM admissions WHERE visits > 3::int", nil},
		{"SELECT id FROM admissions WHERE visits > 3::int4", []string{"int4=23"}},
		{"SELECT id FROM patients WHERE first > $1", nil},
		{"SELECT id FROM admissions WHERE amount > -2.5::numeric AND visits < -4::int4 AND visits > -3", []string{"int4=23", "-numeric=1751", "-int4=558"}},
		{"SELECT id FROM admissions WHERE amount > (-2.5)::numeric AND visits > -3", nil},
	} {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil || len(plan.Sort.Shadow) == 0 {
			t.Fatalf("%s: no probe (%v)", c.sql, plan.Refusal)
		}
		out, err := RewriteSort([]byte(c.sql), plan.Sort)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		for _, text := range [][]byte{out, []byte(plan.Sort.shadowGateWith(false))} {
			var got []string
			for _, m := range names.FindAllStringSubmatch(string(text), -1) {
				got = append(got, m[1]+"="+m[2])
			}
			for _, m := range minus.FindAllStringSubmatch(string(text), -1) {
				got = append(got, "-"+m[1]+"="+m[2])
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: checks %v, want %v\n%s", c.sql, got, c.want, text)
			}
		}
	}
}
