package integration

import (
	"fmt"
	"regexp"
	"strconv"
)

// Regexps for refusals that must name one of several columns: SELECT *
// and whole-row references meet every column of the table, and a refusal
// may name the first restricted one it finds (for billing, a masked one:
// a whole-row value would carry it unmasked).
const (
	billingPatientsDenied  = `birthdate|drivers|passport|maiden|ssn|zip`
	researchPatientsDenied = `\b(id|first|last|birthdate|ssn|passport|drivers|address|maiden)\b`
	defaultPatientsDenied  = `\b(id|first|last|birthdate|ssn|passport|drivers|address|maiden)\b`
)

// columnCases are attempts to read columns a role may not see, or to use a
// masked or pseudonymised column other than as a bare output column.
func columnCases(fx *accessEHR) []accessCase {
	one := func(name, user, sql string, want outcome) accessCase {
		return accessCase{name: name, user: user, steps: []string{sql}, want: want}
	}
	return []accessCase{
		// Denied columns, however they are reached.
		one("billing select star", "biller", `SELECT * FROM patients`, encRefused(billingPatientsDenied)),
		one("billing qualified star", "biller", `SELECT p.* FROM patients p`, encRefused(billingPatientsDenied)),
		one("billing whole-row reference", "biller", `SELECT p FROM patients p`, encRefused(billingPatientsDenied)),
		one("billing returning star", "biller", `UPDATE patients SET city = city WHERE false RETURNING *`, encRefused(billingPatientsDenied)),
		one("billing delete returning star", "biller", `DELETE FROM clinical_notes WHERE false RETURNING *`, refused(`note`)),
		one("billing row_to_json", "biller", `SELECT row_to_json(n) FROM clinical_notes n`, refused(`note`)),
		one("billing json_agg of rows", "biller", `SELECT json_agg(n) FROM clinical_notes n`, refused(`note`)),
		one("billing note", "biller", `SELECT note FROM clinical_notes`, refused(`note`)),
		one("billing quoted note", "biller", `SELECT "note" FROM public."clinical_notes"`, refused(`note`)),
		one("billing aliased note", "biller", `SELECT n.note FROM clinical_notes AS n`, refused(`note`)),
		one("billing note through a subquery", "biller", `SELECT x FROM (SELECT note AS x FROM clinical_notes) s`, refused(`note`)),
		one("billing note in where", "biller", `SELECT id FROM clinical_notes WHERE note LIKE '%a%'`, refused(`note`)),
		one("billing note length", "biller", `SELECT length(note) FROM clinical_notes`, refused(`note`)),
		one("billing order by note", "biller", `SELECT id FROM clinical_notes ORDER BY note`, refused(`note`)),
		one("billing passport", "biller", `SELECT passport FROM patients`, refused(`passport`)),

		// A masked column may only be a bare output column.
		one("billing ssn in where", "biller", `SELECT id FROM patients WHERE ssn = 'x'`, encRefused(`ssn`)),
		one("billing order by ssn", "biller", `SELECT id FROM patients ORDER BY ssn`, encRefused(`ssn`)),
		one("billing order by ssn position", "biller", `SELECT ssn FROM patients ORDER BY 1`, encRefused(`ssn`)),
		one("billing group by ssn", "biller", `SELECT count(*) FROM patients GROUP BY ssn`, encRefused(`ssn`)),
		one("billing distinct ssn", "biller", `SELECT DISTINCT ssn FROM patients`, encRefused(`ssn`)),
		one("billing ssn cast", "biller", `SELECT ssn::text FROM patients`, encRefused(`ssn`)),
		one("billing ssn function", "biller", `SELECT upper(ssn) FROM patients`, encRefused(`ssn`)),
		one("billing ssn case", "biller", `SELECT CASE WHEN ssn > 'a' THEN 1 END FROM patients`, encRefused(`ssn`)),
		one("billing ssn union", "biller", `SELECT ssn FROM patients UNION SELECT 'x'`, encRefused(`ssn`)),
		one("billing join on ssn", "biller", `SELECT a.id FROM patients a JOIN patients b ON a.ssn = b.ssn`, encRefused(`ssn`)),
		one("billing ssn in a subquery's where", "biller", `SELECT id FROM patients WHERE id IN (SELECT id FROM patients WHERE ssn LIKE '%1')`, encRefused(`ssn`)),
		one("billing correlated ssn", "biller", `SELECT id FROM patients p WHERE EXISTS (SELECT 1 WHERE p.ssn = 'x')`, encRefused(`ssn`)),
		one("billing update where ssn", "biller", `UPDATE patients SET city = city WHERE ssn LIKE '%1' RETURNING id`, encRefused(`ssn`)),
		one("billing ssn through a scalar subquery", "biller", `SELECT (SELECT ssn) FROM patients`, outcome{check: allMasked(fx), orRefused: true, code: "42501|0A000", msg: `ssn`}),
		one("billing ssn through a cte", "biller", `WITH s AS (SELECT ssn FROM patients) SELECT ssn FROM s`, outcome{check: allMasked(fx), orRefused: true, code: "42501|0A000", msg: `ssn`}),

		// The same uses of a masked column that is not encrypted, where
		// only the access rules can refuse.
		one("billing zip in where", "biller", `SELECT id FROM patients WHERE zip = '02134'`, refused(`zip`)),
		one("billing zip prefix", "biller", `SELECT id FROM patients WHERE zip LIKE '021%'`, refused(`zip`)),
		one("billing order by zip", "biller", `SELECT zip FROM patients ORDER BY zip`, refused(`zip`)),
		one("billing group by zip", "biller", `SELECT count(*) FROM patients GROUP BY zip`, refused(`zip`)),
		one("billing distinct zip", "biller", `SELECT DISTINCT zip FROM patients`, refused(`zip`)),
		one("billing zip cast", "biller", `SELECT zip::int FROM patients`, refused(`zip`)),
		one("billing zip function", "biller", `SELECT right(zip, 2) FROM patients`, refused(`zip`)),
		one("billing zip case", "biller", `SELECT CASE WHEN zip > '02' THEN 1 END FROM patients`, refused(`zip`)),
		one("billing zip union", "biller", `SELECT zip FROM patients UNION SELECT '00000'`, refused(`zip`)),
		one("billing join on zip", "biller", `SELECT a.id FROM patients a JOIN patients b ON a.zip = b.zip AND a.id <> b.id`, refused(`zip`)),
		one("billing zip in a subquery's where", "biller", `SELECT count(*) FROM patients WHERE id IN (SELECT id FROM patients WHERE zip < '02000')`, refused(`zip`)),
		one("billing zip in a lateral", "biller", `SELECT x.z FROM patients p, LATERAL (SELECT p.zip || '' AS z) x`, refused(`zip`)),
		one("billing zip to json", "biller", `SELECT json_build_object('z', zip) FROM patients`, refused(`zip`)),

		// Pseudonymised columns likewise.
		one("research id in where", "researcher", `SELECT city FROM patients WHERE id = '`+fx.hidden+`'`, refused(`\bid\b`)),
		one("research join on pseudonyms", "researcher", `SELECT p.id FROM patients p JOIN encounters e ON e.patient = p.id`, refused(`\b(id|patient)\b`)),
		one("research group by patient", "researcher", `SELECT count(*) FROM encounters GROUP BY patient`, refused(`patient`)),
		one("research id cast", "researcher", `SELECT id::text FROM patients`, refused(`\bid\b`)),
		one("research md5 of a name", "researcher", `SELECT md5(first) FROM patients`, encRefused(`first`)),
		one("research count distinct names", "researcher", `SELECT count(DISTINCT first) FROM patients`, encRefused(`first`)),
		one("research order by name", "researcher", `SELECT first FROM patients ORDER BY first`, encRefused(`first`)),
		one("research ssn", "researcher", `SELECT ssn FROM patients`, refused(`ssn`)),
		one("research address", "researcher", `SELECT address FROM patients`, refused(`address`)),
		one("research passport", "researcher", `SELECT passport FROM patients WHERE false`, refused(`passport`)),
		one("research note", "researcher", `SELECT note FROM clinical_notes`, refused(`note`)),
		one("research row_to_json", "researcher", `SELECT row_to_json(p) FROM patients p`, encRefused(researchPatientsDenied)),
		one("research whole row of encounters", "researcher", `SELECT to_jsonb(e) FROM encounters e`, refused(`patient`)),
		one("research to_jsonb of star", "researcher", `SELECT to_jsonb(p.*) FROM patients p`, encRefused(researchPatientsDenied)),

		// The default role sees no protected column and no column any role
		// restricts.
		one("default ssn", "walkin", `SELECT ssn FROM patients`, refused(`ssn`)),
		one("default id", "walkin", `SELECT id FROM patients`, refused(`\bid\b`)),
		one("default note", "walkin", `SELECT note FROM clinical_notes`, refused(`note`)),
		one("default select star", "walkin", `SELECT * FROM patients`, encRefused(defaultPatientsDenied)),
	}
}

// writeCases are writes that would create or touch rows a rule hides.
func writeCases(fx *accessEHR) []accessCase {
	H, A := fx.hidden, fx.aliceOnly
	alice := func(name, sql string, want outcome) accessCase {
		return accessCase{name: name, user: "dr_alice", steps: []string{sql}, want: want}
	}
	return []accessCase{
		alice("insert a note on a hidden patient", `INSERT INTO clinical_notes (patient, author, note) VALUES ('`+H+`', 'dr_alice', 'x')`, refused(`clinical_notes`)),
		alice("insert two notes one hidden", `INSERT INTO clinical_notes (patient, author, note) VALUES ('`+A+`', 'dr_alice', 'x'), ('`+H+`', 'dr_alice', 'y')`, refused(`clinical_notes`)),
		alice("on conflict do update over a hidden note", `INSERT INTO clinical_notes (id, patient, author, note) VALUES (`+strconv.FormatInt(fx.hiddenNote, 10)+`, '`+A+`', 'dr_alice', 'x') ON CONFLICT (id) DO UPDATE SET note = 'overwritten' RETURNING id`, refused(`clinical_notes`)),
		alice("merge", `MERGE INTO clinical_notes n USING (SELECT 1) s ON n.patient = '`+H+`' WHEN MATCHED THEN UPDATE SET note = 'x'`, refused(`clinical_notes`)),
		alice("update moves a note to a hidden patient", `UPDATE clinical_notes SET patient = '`+H+`' WHERE patient = '`+A+`'`, refused(`clinical_notes`)),
		alice("update moves an encounter", `UPDATE encounters SET patient = '`+H+`' WHERE patient = '`+A+`'`, refused(`encounters`)),
		alice("update care team", `UPDATE care_teams SET clinician = 'dr_alice' WHERE clinician = 'dr_bob'`, refused(`care_teams`)),
		alice("insert into care team", `INSERT INTO care_teams (clinician, patient) VALUES ('dr_alice', '`+H+`')`, refused(`care_teams`)),
		{name: "copy rule table out", user: "dr_alice", copy: true, steps: []string{"COPY patients TO STDOUT"}, want: refused(`patients`)},
		{name: "copy rule table columns out", user: "dr_alice", copy: true, steps: []string{"COPY public.patients (id, city) TO STDOUT"}, want: refused(`patients`)},
		{name: "copy into rule table", user: "dr_alice", copy: true, steps: []string{"COPY clinical_notes (patient, author, note) FROM STDIN"},
			copyIn: H + "\tdr_alice\tcopied in\n", want: refused(`clinical_notes`)},
	}
}

// statementCases are statements that could escape the rules or change
// them.
func statementCases(fx *accessEHR) []accessCase {
	one := func(name, user, sql string, want outcome) accessCase {
		return accessCase{name: name, user: user, steps: []string{sql}, want: want}
	}
	alice := func(name, sql string, want outcome) accessCase { return one(name, "dr_alice", sql, want) }
	const glass = `break_glass`
	return []accessCase{
		// Name resolution and identity.
		alice("set search_path", `SET search_path = pg_temp, public`, refused(`search_path`)),
		alice("set search_path default", `SET search_path TO DEFAULT`, refused(`search_path`)),
		alice("set local search_path", `SET LOCAL search_path = evil, public`, refused(`search_path`)),
		alice("set_config search_path", `SELECT set_config('search_path', 'pg_temp,public', false)`, refused(`set_config`)),
		alice("set role", `SET ROLE ehr_users`, refused(`role`)),
		alice("set session authorization", `SET SESSION AUTHORIZATION admin_ann`, refused(`authorization`)),

		// Functions that run SQL text, read files or change settings, and
		// functions already in the database.
		alice("pg_read_file", `SELECT pg_read_file('/etc/hostname')`, refused(`pg_read_file`)),
		alice("pg_read_file qualified", `SELECT pg_catalog.pg_read_file('postgresql.conf')`, refused(`pg_read_file`)),
		alice("pg_ls_dir", `SELECT pg_ls_dir('.')`, refused(`pg_ls_dir`)),
		alice("query_to_xml", `SELECT query_to_xml('SELECT id FROM patients', true, false, '')`, refused(`query_to_xml`)),
		alice("lo_import", `SELECT lo_import('/etc/hostname')`, refused(`lo_import`)),
		alice("dblink", `SELECT dblink('dbname=ehr_access', 'SELECT id FROM patients')`, refused(`dblink`)),
		alice("user function", `SELECT patient_city('`+fx.hidden+`')`, refused(`patient_city`)),
		alice("user function qualified per row", `SELECT public.patient_city(id) FROM patients`, refused(`patient_city`)),
		alice("security definer set-returning function", `SELECT * FROM all_patient_ids()`, refused(`all_patient_ids`)),
		alice("view", `SELECT * FROM patient_summary`, refused(`patient_summary`)),
		alice("inheritance child of a ruled table", `SELECT count(*) FROM clinical_notes_archive`, refused(`clinical_notes_archive`)),
		one("materialized view", "researcher", `SELECT count(*) FROM encounter_counts`, refused(`encounter_counts`)),
		alice("pg_stats", `SELECT attname, most_common_vals::text FROM pg_stats WHERE tablename = 'patients'`, refused(`pg_stats`)),
		alice("pg_stats qualified", `SELECT count(*) FROM pg_catalog.pg_stats`, refused(`pg_stats`)),
		one("pg_stat_activity", "biller", `SELECT query FROM pg_stat_activity`, refused(`pg_stat_activity`)),

		// Changing the rules.
		alice("do block", `DO $$ BEGIN PERFORM 1; END $$`, refused(`\bdo\b|statement`)),
		alice("create function", `CREATE FUNCTION leak() RETURNS int LANGUAGE sql AS 'SELECT 1'`, refused(`function|ddl|statement`)),
		alice("create view", `CREATE VIEW leak AS SELECT * FROM patients`, refused(`view|ddl|statement`)),
		alice("create temp view", `CREATE TEMP VIEW leak AS SELECT id FROM patients`, refused(`view|ddl|statement`)),
		alice("create rule", `CREATE RULE leak AS ON INSERT TO export_ids DO ALSO DELETE FROM clinical_notes`, refused(`rule|ddl|statement`)),
		alice("create trigger", `CREATE TRIGGER leak BEFORE INSERT ON export_ids FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()`, refused(`trigger|ddl|statement`)),
		alice("create policy", `CREATE POLICY leak ON export_ids USING (true)`, refused(`policy|ddl|statement`)),
		alice("alter function", `ALTER FUNCTION export_count() SECURITY DEFINER`, refused(`function|ddl|statement`)),
		alice("temp table shadowing", `CREATE TEMP TABLE patients AS SELECT 1 AS id`, refused(`ddl|statement|patients`)),
		alice("prepare", `PREPARE q AS SELECT id FROM clinical_notes`, refused(`prepare`)),
		alice("execute", `EXECUTE q`, refused(`execute`)),

		// Break-glass only for roles that may, with a real reason.
		alice("break-glass through set_config", `SELECT set_config('phiguard.break_glass', 'patient in cardiac arrest', false)`, refused(`set_config`)),
		alice("break-glass reason too short", `SET phiguard.break_glass = 'because'`, outcome{code: "42501|22023", msg: `break|reason|word`}),
		one("break-glass for billing", "biller", `SET phiguard.break_glass = 'urgent billing review needed'`, refused(glass)),
		one("break-glass quoted for billing", "biller", `SET "phiguard"."break_glass" TO 'urgent billing review needed'`, refused(glass)),
		one("break-glass for research", "researcher", `SET phiguard.break_glass = 'need all the patients'`, refused(glass)),
		one("break-glass for the default role", "walkin", `SET SESSION phiguard.break_glass = 'i really need this'`, refused(glass)),
		{name: "break-glass lifts row rules", user: "dr_alice", noTx: true,
			steps: []string{"SET phiguard.break_glass = 'patient unconscious in the emergency room'", "SELECT count(*) FROM patients"},
			want:  rowsOf("SELECT count(*) FROM patients")},

		// Statement classes.
		{name: "billing copy", user: "biller", copy: true, steps: []string{"COPY (SELECT id FROM payers) TO STDOUT"}, want: refused(`copy|statement`)},
		one("research write", "researcher", `DELETE FROM export_ids`, refused(`write|statement`)),
		one("research ddl", "researcher", `CREATE TABLE mine (id int)`, refused(`ddl|statement`)),
		{name: "research copy of notes", user: "researcher", copy: true, steps: []string{"COPY (SELECT note FROM clinical_notes) TO STDOUT"}, want: refused(`note|copy|statement`)},
		{name: "default copy", user: "walkin", copy: true, steps: []string{"COPY payers TO STDOUT"}, want: refused(`copy|statement`)},

		// Several statements in one message: one refused refuses the message.
		{name: "set search_path then select", user: "dr_alice", multi: true, steps: []string{"SET search_path = public; SELECT id FROM patients"}, want: refused(`search_path`)},
		{name: "select then do", user: "dr_alice", multi: true, steps: []string{"SELECT id FROM patients; DO $$ BEGIN END $$"}, want: refused(`\bdo\b|statement`)},

		// What does not parse is refused.
		alice("unfinished statement", `SELECT id FROM patients WHERE`, refusedBy("42601", ``)),
		alice("misspelt keyword", `SELEC id FROM patients`, refusedBy("42601", ``)),
		{name: "syntax error after a valid statement", user: "dr_alice", multi: true, steps: []string{"SELECT id FROM patients; SELEC 2"}, want: refusedBy("42601", ``)},
	}
}

// allMasked accepts rows whose one column is a masked SSN: ***-**- and the
// real last four digits of some patient.
func allMasked(fx *accessEHR) func([][]string) error {
	last4 := map[string]bool{}
	for _, p := range fx.patients {
		last4[p.SSN[len(p.SSN)-4:]] = true
	}
	pattern := regexp.MustCompile(`^\*\*\*-\*\*-(\d{4})$`)
	return func(rows [][]string) error {
		if len(rows) != len(fx.patients) {
			return fmt.Errorf("%d rows, want %d", len(rows), len(fx.patients))
		}
		for _, r := range rows {
			m := pattern.FindStringSubmatch(r[0])
			if m == nil || !last4[m[1]] {
				return fmt.Errorf("value is not a masked SSN")
			}
		}
		return nil
	}
}
