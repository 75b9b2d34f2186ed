package sqlrewrite

import "testing"

// TestDatetimeConstantsFree: a string constant with a digit makes a text
// not free of date and time constants, but phiguard's own bytea ones.
func TestDatetimeConstantsFree(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"SELECT id FROM public.p WHERE name <> 'Smith' ORDER BY id LIMIT 3", true},
		{"SELECT id FROM public.p WHERE born > '1950-01-01' ORDER BY id", false},
		{"SELECT id FROM public.p WHERE seen > '20200102' ORDER BY id", false},
		{"SELECT '01/02/2020'::pg_catalog.date", false},
		{"SELECT id FROM public.p WHERE phiguard.term_ord_v1(born) >= E'\\\\x0a1b'::pg_catalog.bytea ORDER BY id", true},
		{"SELECT id FROM public.p WHERE t @> '{ab1-_x,Zz9}'::pg_catalog.bytea[]", true},
		{"SELECT id FROM public.p WHERE t = '1a'::public.bytea", false},
		{"SELECT id FROM public.p LIMIT 10", true},
		{"SELECT CASE WHEN t OPERATOR(pg_catalog.=) ANY (CAST('{20,21,23}' AS pg_catalog.oid[])) THEN 1 END", true},
		{"SELECT id FROM public.p WHERE d = ANY ('{2020-01-02}')", false},
		{"SELECT pg_catalog.current_setting('phiguard_native_changed:public.t2.id')", true},
		{`SELECT id, '0' AS "phiguard hidden" FROM public.p`, true},
		{`SELECT id, '0' AS "other" FROM public.p`, false},
		{"SELECT 'unterminated", false},
	} {
		if got := DatetimeConstantsFree(tc.sql); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.sql, got, tc.want)
		}
	}
}
