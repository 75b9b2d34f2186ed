package sqlrewrite

import "testing"

// TestSettingsFree: each construct PostgreSQL reads under a setting it
// does not report (or the moment) at analysis makes a text not settings
// free; the same text without it is.
func TestSettingsFree(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"SELECT id FROM public.p WHERE grp = $1 ORDER BY name", true},
		{"SELECT id FROM public.p WHERE name = 'Smith' AND n IS NULL", true},
		{"SELECT id FROM public.p WHERE (grp = NULL) IS NULL", false},
		{"SELECT id FROM public.p WHERE NULL = grp", false},
		{"SELECT id FROM public.p WHERE grp <> NULL", true}, // only = is rewritten
		{"SELECT id FROM public.p WHERE tags = '{a,NULL}'", false},
		{"SELECT id FROM public.p WHERE tags = '{a,nUlL}'", false},
		{"SELECT id FROM public.p WHERE born < 'today'", false},
		{"SELECT id FROM public.p WHERE seen < 'NOW'::pg_catalog.timestamptz", false},
		{"SELECT id FROM public.p WHERE born < 'yesterday' OR born > 'tomorrow'", false},
		{"SELECT id FROM public.p WHERE fee = '1.50'::pg_catalog.money", false},
		{"SELECT id FROM public.p WHERE pg_catalog.cash_words('1.50') = name", false},
		{"SELECT id FROM public.p WHERE pg_catalog.int4_mul_cash(2, fee) > fee", false},
		{"SELECT id FROM public.p WHERE pg_catalog.xpath_exists('/a', '<a/>')", false},
		{"SELECT xmlconcat('<a/>') FROM public.p", false},
		{"SELECT id FROM public.p WHERE name = E'O\\'Brien'", false},
		{"SELECT id FROM public.p WHERE name = 'O''Brien'", true},
		{"SELECT id, (1::pg_catalog.float8 / 3)::pg_catalog.text FROM public.p", false},
		{"SELECT id, 'A'::pg_catalog.bytea::pg_catalog.text FROM public.p", false},
		{"SELECT id, CAST(pg_catalog.date_part('epoch', '2020-01-01'::pg_catalog.timestamp) AS pg_catalog.varchar) FROM public.p", false},
		{"SELECT id, 'A'::pg_catalog.text, 1::pg_catalog.text, born::pg_catalog.text, $1::pg_catalog.float8::pg_catalog.text FROM public.p", true},
		{"SELECT p.id, s.v::pg_catalog.text FROM public.p, (SELECT 1::pg_catalog.float8 / 3 AS v) s", false},
		{"WITH s AS (SELECT 1::pg_catalog.float8 / 3 AS v) SELECT p.id, s.v::pg_catalog.text FROM public.p, s", false},
		{"SELECT p.id, s.v FROM public.p, (SELECT 1::pg_catalog.float8 / 3 AS v) s", true},
		{"SELECT id FROM public.p WHERE seen < '2020-01-01 00:00 IST'", false},
		{"SELECT id FROM public.p WHERE seen < '2020-01-01 00:00'", true},
		{"SELECT id, seen AT TIME ZONE 'IST' FROM public.p", false},
		{"SELECT (", false},
	} {
		if got := Analyze(tc.sql).SettingsFree(); got != tc.want {
			t.Errorf("%s: SettingsFree %v, want %v", tc.sql, got, tc.want)
		}
	}
	var nilA *Analysis
	if nilA.SettingsFree() {
		t.Error("a nil analysis is settings free")
	}
}
