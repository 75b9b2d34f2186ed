package sqlrewrite

import (
	"strings"
	"testing"
)

// TestAccessStatisticsRefused: every way to the row counts and sizes of
// tables is refused for a role with rules, naming what and the rule.
func TestAccessStatisticsRefused(t *testing.T) {
	pol := loadAccessPolicy(t)
	const pc = "pg_catalog.pg_class.rel"
	cases := []struct{ role, sql, msg string }{
		{"clinician", "SELECT pg_stat_get_live_tuples('patients'::regclass)", `function pg_stat_get_live_tuples reveals statistics`},
		{"clinician", "SELECT pg_catalog.pg_stat_get_tuples_inserted(16384)", `function pg_catalog.pg_stat_get_tuples_inserted reveals`},
		{"clinician", `SELECT "pg_stat_get_xact_tuples_inserted"(16384)`, `pg_stat_get_xact_tuples_inserted`},
		{"clinician", "SELECT * FROM pg_stat_get_dead_tuples(16384) n", `pg_stat_get_dead_tuples`},
		{"clinician", "SELECT 1 WHERE pg_relation_size('patients') > 0", `pg_relation_size`},
		{"clinician", "SELECT pg_total_relation_size('notes')", `pg_total_relation_size`},
		{"clinician", "SELECT public.pgstattuple('patients')", `pgstattuple`},
		{"billing", "SELECT pg_database_size(current_database())", `rule "billing: statistics"`},
		{"clinician", "SELECT reltuples FROM pg_class", `permission denied for column pg_catalog.pg_class.reltuples: role clinician may not read it (rule "clinician: statistics")`},
		{"clinician", "SELECT c.relpages FROM pg_catalog.pg_class c", pc + "pages"},
		{"clinician", "SELECT relname FROM pg_class WHERE reltuples > 100", pc + "tuples"},
		{"clinician", "SELECT relname FROM pg_class ORDER BY relallvisible", pc + "allvisible"},
		{"clinician", "SELECT * FROM pg_class", pc},
		{"clinician", "SELECT c.* FROM pg_class c", pc},
		{"clinician", "SELECT c FROM pg_class c", pc},
		{"clinician", "SELECT (c).reltuples FROM pg_class c", pc},
		{"clinician", "SELECT to_json(c) FROM pg_class c", pc},
		{"clinician", "SELECT c.row_to_json FROM pg_class c", pc},
		{"clinician", "SELECT x FROM (SELECT reltuples AS x FROM pg_class) s", pc + "tuples"},
		{"clinician", "COPY pg_class TO STDOUT", pc},
		{"clinician", "SELECT * FROM pg_statistic", `relation pg_statistic holds statistics`},
		{"clinician", "SELECT * FROM pg_catalog.pg_stat_user_tables", `relation pg_catalog.pg_stat_user_tables holds statistics`},
		{"clinician", "SELECT * FROM pg_statio_all_tables", `pg_statio_all_tables`},
		{"clinician", "SELECT ctid FROM patients", `system column ctid of table public.patients`},
		{"clinician", "SELECT p.xmin FROM patients p", `system column xmin`},
		{"clinician", "UPDATE notes SET body = body RETURNING ctid", `system column ctid of table public.notes`},
		{"clinician", "DELETE FROM notes WHERE ctid > '(0,0)'", `ctid`},
		{"clinician", "SELECT (SELECT count(*) FROM providers) FROM patients WHERE xmax = 0", `xmax`},
		{"billing", "SELECT n.row_to_json FROM notes n", `public.notes.body`},
		{"billing", "SELECT p.to_jsonb FROM patients p", `public.patients`},
		{"billing", "SELECT j.row_to_json FROM (notes n JOIN providers v ON v.id = n.id) j", `public.notes.body`},
		{"billing", "SELECT s.row_to_json FROM (SELECT ssn FROM patients) s", `public.patients.ssn`},
		{"billing", "WITH s AS (SELECT ssn, city FROM patients) SELECT s.to_jsonb FROM s", `public.patients.ssn`},
		{"billing", "SELECT s.to_json FROM (SELECT * FROM patients) s", `public.patients`},
		{"clinician", "SELECT j.row_to_json FROM (pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace) AS j", `pg_catalog.pg_class.rel`},
	}
	for _, c := range cases {
		acc := accessFor(t, pol, c.role, c.sql, false)
		if acc.Refusal == nil {
			t.Errorf("%s: %q was not refused (sent %q)", c.role, c.sql, acc.SQL)
			continue
		}
		if acc.Refusal.Code != "42501" || !strings.Contains(acc.Refusal.Error(), c.msg) {
			t.Errorf("%s: %q refused with %s %q, want 42501 containing %q", c.role, c.sql, acc.Refusal.Code, acc.Refusal.Error(), c.msg)
		}
	}
}

// TestAccessStatisticsAllowed: the rest of pg_class, system columns of
// tables without a row rule, and ordinary column references stay allowed.
func TestAccessStatisticsAllowed(t *testing.T) {
	pol := loadAccessPolicy(t)
	cases := []struct{ role, sql string }{
		{"clinician", "SELECT relname, relkind FROM pg_class WHERE relname = 'patients'"},
		{"clinician", "SELECT c.oid, c.relname FROM pg_catalog.pg_class c WHERE c.relnamespace = 2200"},
		{"clinician", "COPY pg_class (relname) TO STDOUT"},
		{"clinician", "SELECT ctid, xmin FROM providers"},
		{"clinician", "SELECT p.ctid FROM providers p JOIN patients q ON q.id = p.id"},
		{"clinician", "SELECT count(*) FROM patients"},
		{"billing", "SELECT p.city, p.tableoid FROM patients p"},
		{"billing", "SELECT p.ctid FROM patients p"},
		{"billing", "SELECT j.city, j.name FROM (patients p JOIN providers v ON v.id = p.id) j"},
		{"billing", "SELECT s.name, s.ssn FROM (SELECT city AS name, ssn FROM patients) s"},
		{"billing", "SELECT s.x, s.ssn FROM (SELECT city, ssn FROM patients) AS s(x)"},
	}
	for _, c := range cases {
		if acc := accessFor(t, pol, c.role, c.sql, false); acc.Refusal != nil {
			t.Errorf("%s: %q refused: %v", c.role, c.sql, acc.Refusal)
		}
	}
	// Break-glass lifts the row rules, and with them the system columns'
	// refusal; the statistics stay refused.
	if acc := accessFor(t, pol, "clinician", "SELECT ctid FROM patients", true); acc.Refusal != nil {
		t.Errorf("break-glass: ctid refused: %v", acc.Refusal)
	}
	if acc := accessFor(t, pol, "clinician", "SELECT reltuples FROM pg_class", true); acc.Refusal == nil {
		t.Error("break-glass: reltuples allowed")
	}
}
