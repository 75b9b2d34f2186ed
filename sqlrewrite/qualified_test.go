package sqlrewrite

import "testing"

func TestQualified(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"SELECT id, first, last FROM public.patients WHERE last ILIKE 'gle%' ORDER BY last, first, id LIMIT 50", true},
		{"SELECT e.id, p.last FROM public.encounters e LEFT JOIN public.patients p ON p.id = e.patient WHERE e.patient IN ($1) ORDER BY p.last", true},
		{"SELECT id FROM public.patients WHERE birthdate BETWEEN '1950-01-01' AND '1950-03-31' ORDER BY birthdate LIMIT 100", true},
		{"SELECT id::int, $1::timestamp, 1::pg_catalog.text FROM public.patients", true}, // keyword types: pg_catalog
		{"SELECT $1::date FROM public.patients", false},                                  // date is not a keyword type
		{"SELECT pg_catalog.lower(last) FROM public.patients ORDER BY last COLLATE pg_catalog.\"C\"", true},
		{"SELECT id FROM patients", false},                                                     // a temporary table could take the name
		{"SELECT lower(last) FROM public.patients", false},                                     // a public.lower(varchar) could
		{"SELECT count(*) FROM public.patients", false},                                        // aggregates too
		{"SELECT last::text FROM public.patients", false},                                      // text is not a keyword type
		{"SELECT last FROM public.patients ORDER BY last COLLATE \"C\"", false},                // nor a collation
		{"SELECT id FROM public.patients WHERE id IN (SELECT patient FROM care_teams)", false}, // any level
		{"WITH c AS (SELECT id FROM public.patients) SELECT id FROM c", false},                 // a CTE's name is not told apart
		{"SELECT id FROM public.patients WHERE id = public.pick(2)", false},                    // a new public.pick(int) invalidates no plan
		{"SELECT id FROM public.patients WHERE 'x'::pg_catalog.regclass IS NULL", false},       // x looked up at analysis
		{"SELECT pg_catalog.regclass('x') FROM public.patients", false},                        // a function of a name type
		{"SELECT id FROM public.patients WHERE pg_catalog.pg_table_size('x') > 0", false},      // x read as regclass
		{"SELECT id FROM public.patients WHERE pg_catalog.upper(last) = 'X'", true},
		{"SELECT FROM", false}, // unparsable
	} {
		if got := Analyze(tc.sql).Qualified(); got != tc.want {
			t.Errorf("Qualified(%q) = %v, want %v", tc.sql, got, tc.want)
		}
	}
	var nilA *Analysis
	if nilA.Qualified() {
		t.Error("a nil analysis is qualified")
	}
}
