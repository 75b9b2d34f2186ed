package sqlrewrite

import "testing"

// TestMayChangeAnalysis: which statements may change a setting
// PostgreSQL reads while it analyses a text (guard/plan_reuse_settings.go).
func TestMayChangeAnalysis(t *testing.T) {
	for sql, want := range map[string]bool{
		"SET transform_null_equals = on":                true,
		"SET LOCAL array_nulls = off":                   true,
		"RESET ALL":                                     true,
		"RESET xmloption":                               true,
		"SELECT pg_catalog.set_config('a', 'b', false)": true,
		"DISCARD ALL":                                   true,
		"CALL p()":                                      true,
		"SELECT my_function(1)":                         true,
		"SET application_name = 'x'":                    false,
		"SET search_path = public":                      false,
		"SET DateStyle = 'ISO, DMY'":                    false, // reported: followed by its value
		"SET app.user_id = '42'":                        false,
		"SET enable_seqscan = off":                      false,
		"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE":  false,
		"SELECT 1":                                      false,
		"COMMIT":                                        false,
		"SELECT 1::public.dom":                          true, // a domain's CHECK may call set_config
		"SELECT 1::dom":                                 true,
		"SELECT '2020-01-01'::date, 'x'::text, 1::int":  false,
		"SELECT 1::pg_catalog.int8":                     false,
	} {
		a := Analyze(sql)
		if a.Err != nil {
			t.Fatalf("%s: %v", sql, a.Err)
		}
		st := a.Statements[0]
		if got := st.MayChangeAnalysis(); got != want {
			t.Errorf("%s: MayChangeAnalysis = %v, want %v", sql, got, want)
		}
	}
	for sql, want := range map[string]bool{"COMMIT": true, "ROLLBACK": true, "ROLLBACK TO SAVEPOINT s": true, "BEGIN": false, "SAVEPOINT s": false, "RELEASE s": false, "SELECT 1": false} {
		if got := Analyze(sql).Statements[0].UndoesSettings(); got != want {
			t.Errorf("%s: UndoesSettings = %v, want %v", sql, got, want)
		}
	}
}
