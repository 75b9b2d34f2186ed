package integration

import (
	"fmt"
	"regexp"
	"strconv"
)

// rowCases are attempts to reach rows a row rule hides: every way to name
// a table and every place a reference to it can hide. Each expects exactly
// the rows of a hand-written filter.
func rowCases(fx *accessEHR) []accessCase {
	H := fx.hidden
	alice := func(name string, sql string, filter string) accessCase {
		return accessCase{name: name, user: "dr_alice", steps: []string{sql}, want: rowsOf(filter)}
	}
	mine := "SELECT id FROM patients WHERE id IN " + aliceSees
	myNotes := "SELECT id FROM clinical_notes WHERE patient IN " + aliceSees
	cases := []accessCase{
		// Naming the table.
		alice("plain", "SELECT id, city FROM patients", "SELECT id, city FROM patients WHERE id IN "+aliceSees),
		alice("quoted lower", `SELECT id FROM "patients"`, mine),
		alice("schema qualified", `SELECT id FROM public."patients"`, mine),
		alice("upper case unquoted", `SELECT ID FROM PUBLIC.Patients`, mine),
		alice("quoted schema and alias", `SELECT p.id FROM "public"."patients" AS p`, mine),
		alice("unicode escape", `SELECT id FROM U&"p\0061tients"`, mine),
		alice("unicode escape uescape", `SELECT id FROM public.U&"!0070atients" UESCAPE '!'`, mine),
		alice("only", `SELECT id FROM ONLY patients`, mine),
		alice("only parenthesised", `SELECT id FROM ONLY (public.patients)`, mine),
		alice("table statement", `TABLE care_teams`, "SELECT * FROM care_teams WHERE clinician = 'dr_alice'"),
		alice("comments between tokens", `SELECT id FROM/* x */patients/**/WHERE/* y */true`, mine),
		alice("line comments", "SELECT id -- trailing\nFROM -- patients are here\n patients -- end\n", mine),
		alice("comment hiding a statement", `SELECT id FROM patients /* ; SELECT id FROM patients */`, mine),
		alice("nested comments", `SELECT id FROM /* outer /* inner */ still a comment */ patients`, mine),
		alice("dollar quoted decoy", `SELECT $$ FROM patients $$ AS x, id FROM patients`, "SELECT ' FROM patients ' AS x, id FROM patients WHERE id IN "+aliceSees),
		alice("alias named like the table", `SELECT patients.id FROM patients AS patients`, mine),
		{name: "tablesample", user: "dr_alice", steps: []string{`SELECT count(*) FROM patients TABLESAMPLE SYSTEM (100)`},
			want: rowsOrRefused("SELECT count(*) FROM patients WHERE id IN "+aliceSees, `patients|tablesample`)},
		alice("for update", `SELECT id FROM patients FOR UPDATE`, mine),

		// Where a reference can hide.
		alice("count", `SELECT count(*) FROM patients`, "SELECT count(*) FROM patients WHERE id IN "+aliceSees),
		alice("scalar subquery", `SELECT (SELECT count(*) FROM patients)`, "SELECT count(*) FROM patients WHERE id IN "+aliceSees),
		alice("deep subquery", `SELECT id FROM (SELECT * FROM (SELECT id FROM (SELECT id FROM patients) a) b) c`, mine),
		alice("exists", `SELECT e.id FROM encounters e WHERE EXISTS (SELECT 1 FROM patients p WHERE p.id = e.patient)`,
			"SELECT id FROM encounters WHERE patient IN "+aliceSees),
		alice("in subquery under an open table", `SELECT id FROM providers WHERE id IN (SELECT provider FROM encounters)`,
			"SELECT id FROM providers WHERE id IN (SELECT provider FROM encounters WHERE patient IN "+aliceSees+")"),
		alice("correlated count per organization", `SELECT o.id, (SELECT count(*) FROM encounters e WHERE e.organization = o.id) FROM organizations o`,
			"SELECT o.id, (SELECT count(*) FROM encounters e WHERE e.organization = o.id AND e.patient IN "+aliceSees+") FROM organizations o"),
		alice("cte", `WITH x AS (SELECT id FROM patients) SELECT id FROM x`, mine),
		alice("cte materialized", `WITH x AS MATERIALIZED (SELECT id FROM patients) SELECT id FROM x`, mine),
		alice("cte shadowing the table", `WITH patients AS (SELECT * FROM public.patients) SELECT id FROM patients`, mine),
		alice("cte named like the table", `WITH patients AS (SELECT 'not a patient'::text AS id) SELECT id FROM patients`, "SELECT 'not a patient'"),
		alice("recursive cte", `WITH RECURSIVE r(id, n) AS (SELECT id, 1 FROM patients UNION ALL SELECT p.id, r.n + 1 FROM r JOIN patients p ON p.id = r.id WHERE r.n < 2) SELECT id, n FROM r`,
			"SELECT id, n FROM patients, generate_series(1, 2) n WHERE id IN "+aliceSees),
		alice("recursive cte over a counter", `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT count(*) FROM patients, r`,
			"SELECT 3 * count(*) FROM patients WHERE id IN "+aliceSees),
		alice("union", `SELECT id FROM patients UNION SELECT patient FROM encounters`,
			"SELECT id FROM patients WHERE id IN "+aliceSees+" UNION SELECT patient FROM encounters WHERE patient IN "+aliceSees),
		alice("intersect", `SELECT id FROM patients INTERSECT SELECT patient FROM clinical_notes`,
			"SELECT patient FROM clinical_notes WHERE patient IN "+aliceSees+" GROUP BY patient"),
		alice("union all in from", `SELECT count(*) FROM (SELECT id FROM patients UNION ALL SELECT id FROM ONLY public.patients) u`,
			"SELECT 2 * count(*) FROM patients WHERE id IN "+aliceSees),
		alice("lateral count", `SELECT o.id, x.n FROM organizations o, LATERAL (SELECT count(*) AS n FROM encounters e WHERE e.organization = o.id) x`,
			"SELECT o.id, (SELECT count(*) FROM encounters e WHERE e.organization = o.id AND e.patient IN "+aliceSees+") FROM organizations o"),
		alice("lateral latest encounter", `SELECT p.id, l.id FROM patients p CROSS JOIN LATERAL (SELECT id FROM encounters e WHERE e.patient = p.id ORDER BY start DESC, id LIMIT 1) l`,
			"SELECT p.id, (SELECT id FROM encounters e WHERE e.patient = p.id ORDER BY start DESC, id LIMIT 1) FROM patients p WHERE p.id IN "+aliceSees+" AND EXISTS (SELECT 1 FROM encounters e WHERE e.patient = p.id)"),
		alice("left join", `SELECT e.id, p.id FROM encounters e LEFT JOIN patients p ON p.id = e.patient`,
			"SELECT id, patient FROM encounters WHERE patient IN "+aliceSees),
		alice("full join", `SELECT p.id FROM payers o FULL JOIN patients p ON false`,
			"SELECT NULL::uuid FROM payers UNION ALL "+mine),
		alice("join two rule tables", `SELECT count(*) FROM clinical_notes n JOIN encounters e ON e.id = n.encounter`,
			"SELECT count(*) FROM clinical_notes WHERE patient IN "+aliceSees),
		alice("subquery in function argument", `SELECT coalesce((SELECT count(city) FROM patients), -1)`,
			"SELECT coalesce((SELECT count(city) FROM patients WHERE id IN "+aliceSees+"), -1)"),
		alice("array subquery", `SELECT array_length(ARRAY(SELECT id FROM patients), 1)`,
			"SELECT count(*) FROM patients WHERE id IN "+aliceSees),
		alice("having subquery", `SELECT 1 HAVING (SELECT count(*) FROM patients WHERE id = '`+H+`') > 0`, "SELECT 1 WHERE false"),
		alice("window", `SELECT DISTINCT count(*) OVER () FROM patients`, "SELECT count(*) FROM patients WHERE id IN "+aliceSees),
		alice("values against the table", `SELECT v.id FROM (VALUES ('`+H+`'::uuid)) v(id) WHERE v.id IN (SELECT id FROM patients)`, "SELECT 1 WHERE false"),
		alice("set-returning function cross join", `SELECT count(*) FROM generate_series(1, 3) g CROSS JOIN patients`,
			"SELECT 3 * count(*) FROM patients WHERE id IN "+aliceSees),
		alice("unnest of an array subquery", `SELECT unnest(ARRAY(SELECT id FROM patients))`, mine),
		alice("jsonb_agg through a set-returning function", `SELECT count(*) FROM jsonb_array_elements((SELECT jsonb_agg(p.id) FROM patients p))`,
			"SELECT count(*) FROM patients WHERE id IN "+aliceSees),
		alice("conditions", `SELECT count(*) FROM conditions`, "SELECT count(*) FROM conditions WHERE patient IN "+aliceSees),
		alice("medications join encounters", `SELECT count(*) FROM medications m JOIN encounters e ON e.id = m.encounter`,
			"SELECT count(*) FROM medications WHERE patient IN "+aliceSees),
		alice("notes text search", `SELECT id FROM clinical_notes WHERE note ILIKE '%seen%'`,
			"SELECT id FROM clinical_notes WHERE note ILIKE '%seen%' AND patient IN "+aliceSees),
		alice("care team of another clinician", `SELECT count(*) FROM care_teams WHERE clinician = 'dr_bob'`,
			"SELECT count(*) FROM care_teams WHERE clinician = 'dr_bob' AND clinician = 'dr_alice'"),

		// Asking for the hidden patient by name.
		alice("hidden patient by id", `SELECT id, city FROM patients WHERE id = '`+H+`'`, "SELECT 1, 2 WHERE false"),
		alice("hidden patient's encounters", `SELECT count(*) FROM encounters WHERE patient = '`+H+`'`, "SELECT 0::bigint"),
		alice("hidden patient's notes", `SELECT note FROM clinical_notes WHERE id = `+strconv.FormatInt(fx.hiddenNote, 10), "SELECT 1 WHERE false"),

		// Predicate pushdown: the user's condition must not be evaluated on
		// rows the rule hides (an error would tell that the row exists).
		alice("oracle division by zero", `SELECT id FROM patients WHERE 1/(CASE WHEN id = '`+H+`' THEN 0 ELSE 1 END) = 1`, mine),
		alice("oracle failing cast", `SELECT id FROM patients WHERE (CASE WHEN id = '`+H+`' THEN 'x' ELSE '1' END)::int = 1`, mine),
		alice("oracle in a join condition", `SELECT e.id FROM encounters e JOIN patients p ON p.id = e.patient AND 1/(CASE WHEN p.id = '`+H+`' THEN 0 ELSE 1 END) = 1`,
			"SELECT id FROM encounters WHERE patient IN "+aliceSees),
		alice("oracle on encounters", `SELECT count(*) FROM encounters WHERE 1/(CASE WHEN patient = '`+H+`' THEN 0 ELSE 1 END) = 1`,
			"SELECT count(*) FROM encounters WHERE patient IN "+aliceSees),
		alice("oracle in a subquery", `SELECT count(*) FROM (SELECT id FROM patients WHERE 1/(CASE WHEN id = '`+H+`' THEN 0 ELSE 1 END) = 1) s`,
			"SELECT count(*) FROM patients WHERE id IN "+aliceSees),

		// DML targets and their sources (rolled back).
		alice("update returning", `UPDATE patients SET city = city RETURNING id`, mine),
		alice("update hidden", `UPDATE patients SET city = 'Nowhere' WHERE id = '`+H+`' RETURNING id`, "SELECT 1 WHERE false"),
		alice("delete hidden", `DELETE FROM clinical_notes WHERE patient = '`+H+`' RETURNING id`, "SELECT 1 WHERE false"),
		alice("delete using", `DELETE FROM clinical_notes n USING patients p WHERE n.patient = p.id RETURNING n.id`,
			"SELECT id FROM clinical_notes WHERE patient IN "+aliceSees),
		alice("update from", `UPDATE encounters e SET description = e.description FROM patients p WHERE p.id = e.patient RETURNING e.id`,
			"SELECT id FROM encounters WHERE patient IN "+aliceSees),
		alice("update open table from a rule table", `UPDATE organizations o SET name = o.name FROM encounters e WHERE e.organization = o.id RETURNING o.id`,
			"SELECT id FROM organizations WHERE id IN (SELECT organization FROM encounters WHERE patient IN "+aliceSees+")"),
		alice("insert select", `INSERT INTO export_ids (patient) SELECT id FROM patients RETURNING patient`, mine),
		alice("insert select hidden", `INSERT INTO export_ids (patient) SELECT patient FROM encounters WHERE patient = '`+H+`' RETURNING patient`, "SELECT 1 WHERE false"),
		alice("writable cte", `WITH d AS (DELETE FROM clinical_notes RETURNING id) SELECT count(*) FROM d`,
			"SELECT count(*) FROM clinical_notes WHERE patient IN "+aliceSees),
		alice("delete hidden patient", `DELETE FROM patients WHERE id = '`+H+`' RETURNING id`, "SELECT 1 WHERE false"),

		// Cursors are analysed like SELECT. (They, COPY (query) and EXPLAIN
		// read tables without encrypted columns here: the encryption layer
		// refuses those constructs on tables the policy's tables: section
		// lists, with 0A000, whatever the role.)
		{name: "cursor", user: "dr_alice", steps: []string{"DECLARE c CURSOR FOR SELECT id FROM clinical_notes", "FETCH ALL FROM c"}, want: rowsOf(myNotes)},
		{name: "scroll cursor on hidden", user: "dr_alice", steps: []string{"DECLARE c SCROLL CURSOR FOR SELECT id FROM conditions c WHERE c.patient = '" + H + "'", "FETCH ALL FROM c"}, want: rowsOf("SELECT 1 WHERE false")},

		// COPY (SELECT ...) TO is filtered.
		{name: "copy query", user: "dr_alice", copy: true, steps: []string{"COPY (SELECT id FROM clinical_notes) TO STDOUT"}, want: rowsOf(myNotes)},
		{name: "copy query with options", user: "dr_alice", copy: true, steps: []string{"COPY (SELECT c.id FROM conditions c) TO STDOUT (FORMAT text)"}, want: rowsOf("SELECT id FROM conditions WHERE patient IN " + aliceSees)},

		// Several statements in one message.
		{name: "two selects in one message", user: "dr_alice", multi: true, steps: []string{"SELECT 1; SELECT id FROM patients"},
			want: rowsOf("SELECT '1' UNION ALL SELECT id::text FROM patients WHERE id IN " + aliceSees)},
		{name: "comments hiding separators", user: "dr_alice", multi: true, steps: []string{"/* ; */ SELECT 'a' ; -- ;\n SELECT count(*) FROM patients WHERE id = '" + H + "'"},
			want: rowsOf("SELECT 'a' UNION ALL SELECT '0'")},

		// The research role sees consented patients only.
		{name: "research count", user: "researcher", steps: []string{"SELECT count(*) FROM patients"}, want: rowsOf("SELECT count(*) FROM patients WHERE id IN " + consented)},
		{name: "research cities", user: "researcher", steps: []string{"SELECT city, gender FROM patients"}, want: rowsOf("SELECT city, gender FROM patients WHERE id IN " + consented)},
		{name: "research encounters", user: "researcher", steps: []string{"SELECT count(*) FROM encounters"}, want: rowsOf("SELECT count(*) FROM encounters WHERE patient IN " + consented)},
		{name: "research consents", user: "researcher", steps: []string{"SELECT purpose, granted, count(*) FROM consents GROUP BY 1, 2"}, want: rowsOf("SELECT 'research', true, count(*) FROM " + consented + " c")},
		{name: "research marketing consent is not research", user: "researcher", steps: []string{"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM consents c WHERE c.purpose = 'marketing')"}, want: rowsOf("SELECT 0::bigint")},
		{name: "research care teams", user: "researcher", steps: []string{"SELECT count(*) FROM care_teams"}, want: rowsOf("SELECT 0::bigint")},

		// The default role sees no row of a rule table, and tables no
		// role has rules on.
		{name: "default patients", user: "walkin", steps: []string{"SELECT count(*) FROM patients"}, want: rowsOf("SELECT 0::bigint")},
		{name: "default cities", user: "walkin", steps: []string{"SELECT city FROM patients"}, want: rowsOf("SELECT 1 WHERE false")},
		{name: "default payers", user: "walkin", steps: []string{"SELECT id, name FROM payers"}, want: rowsOf("SELECT id, name FROM payers")},
	}

	// EXPLAIN ANALYZE reports row counts: refused, or counts no larger
	// than what the rule leaves, and no "Rows Removed" that counts hidden
	// rows.
	cases = append(cases,
		accessCase{name: "explain analyze", user: "dr_alice", steps: []string{"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM clinical_notes"}, want: checked(explainAtMost(fx.aliceNotes))},
		accessCase{name: "explain analyze hidden", user: "dr_alice", steps: []string{"EXPLAIN ANALYZE SELECT * FROM conditions WHERE patient = '" + H + "'"}, want: checked(explainAtMost(0))},
	)
	return cases
}

var actualRows = regexp.MustCompile(`actual(?: time=\S+)? rows=(\d+)`)

// explainAtMost accepts an EXPLAIN ANALYZE output whose nodes return at
// most max rows each and that says nothing of rows removed.
func explainAtMost(max int) func([][]string) error {
	return func(rows [][]string) error {
		for _, r := range rows {
			line := r[0]
			if regexp.MustCompile(`Rows Removed`).MatchString(line) {
				return fmt.Errorf("plan reports rows a rule removed: %q", line)
			}
			for _, m := range actualRows.FindAllStringSubmatch(line, -1) {
				if n, _ := strconv.Atoi(m[1]); n > max {
					return fmt.Errorf("plan node returned %d rows, more than the %d visible: %q", n, max, line)
				}
			}
		}
		return nil
	}
}
