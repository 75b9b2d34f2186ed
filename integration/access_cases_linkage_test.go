package integration

import (
	"fmt"
	"strings"
)

// ruleInputCases are attempts by a clinician to widen her own row rules by
// writing the care-team table they read (issue 10, hole 4): every way to
// write it is refused by phiguard, although PostgreSQL's grants allow it.
// The refusal names the table, the rule that reads it and the setting that
// would allow it.
func ruleInputCases(fx *accessEHR) []accessCase {
	H, A := fx.hidden, fx.aliceOnly
	const why = `care_teams.*clinician: rows of public\..*writes_rule_tables`
	alice := func(name, sql string) accessCase {
		return accessCase{name: name, user: "dr_alice", steps: []string{sql}, want: refused(why)}
	}
	return []accessCase{
		alice("care team insert values", `INSERT INTO care_teams (clinician, patient) VALUES ('dr_alice', '`+H+`')`),
		alice("care team insert current_user", `INSERT INTO public."care_teams" VALUES (current_user, '`+H+`'::uuid)`),
		alice("care team insert select", `INSERT INTO care_teams (clinician, patient) SELECT 'dr_alice', '`+H+`'::uuid`),
		alice("care team insert select from a rule table", `INSERT INTO care_teams (clinician, patient) SELECT 'dr_alice', patient FROM care_teams`),
		alice("care team insert on conflict do nothing", `INSERT INTO care_teams VALUES ('dr_alice', '`+H+`') ON CONFLICT DO NOTHING`),
		alice("care team insert on conflict do update", `INSERT INTO care_teams AS c VALUES ('dr_alice', '`+A+`') ON CONFLICT (clinician, patient) DO UPDATE SET patient = '`+H+`'`),
		alice("care team update own row", `UPDATE care_teams SET patient = '`+H+`' WHERE clinician = 'dr_alice' AND patient = '`+A+`'`),
		alice("care team update from", `UPDATE care_teams c SET patient = s.p FROM (SELECT '`+H+`'::uuid AS p) s WHERE c.clinician = current_user AND c.patient = '`+A+`'`),
		alice("care team update returning", `UPDATE care_teams SET clinician = clinician RETURNING patient`),
		alice("care team delete", `DELETE FROM care_teams WHERE clinician = 'dr_bob'`),
		alice("care team writable cte", `WITH i AS (INSERT INTO care_teams VALUES ('dr_alice', '`+H+`') RETURNING patient) SELECT count(*) FROM i`),
		alice("care team merge", `MERGE INTO care_teams c USING (SELECT 'dr_alice' AS clinician, '`+H+`'::uuid AS patient) s ON c.clinician = s.clinician AND c.patient = s.patient WHEN NOT MATCHED THEN INSERT VALUES (s.clinician, s.patient)`),
		{name: "care team copy from", user: "dr_alice", copy: true, steps: []string{"COPY care_teams (clinician, patient) FROM STDIN"},
			copyIn: "dr_alice\t" + H + "\n", want: refused(why)},
		{name: "care team insert under break-glass", user: "dr_alice",
			steps: []string{"SET phiguard.break_glass = 'patient unconscious in the emergency room'",
				`INSERT INTO care_teams VALUES ('dr_alice', '` + A + `') ON CONFLICT DO NOTHING`},
			want: refused(why)},
		// An UPDATE that moves a row is checked like RLS WITH CHECK: within
		// the care team it goes through, out of it it is refused.
		{name: "note moved within the care team", user: "dr_alice",
			steps: []string{`UPDATE clinical_notes SET patient = '` + A + `' WHERE patient = '` + A + `' RETURNING id`},
			want:  rowsOf(`SELECT id FROM clinical_notes WHERE patient = '` + A + `'`)},
		{name: "note moved out of the care team by parameter-free update from", user: "dr_alice",
			steps: []string{`UPDATE clinical_notes n SET patient = '` + H + `' FROM (SELECT 1) s WHERE n.patient = '` + A + `'`},
			want:  refused(`clinical_notes`)},
	}
}

// linkageCases: research sees every patient id under one pseudonym,
// whichever table holds it (issue 10, hole 5): a join of two clinical
// tables gives two equal pseudonyms, never a pseudonym next to a real id,
// and the quasi-identifiers are NULL.
func linkageCases(fx *accessEHR) []accessCase {
	research := func(name, sql string, want outcome) accessCase {
		return accessCase{name: name, user: "researcher", steps: []string{sql}, want: want}
	}
	// Rows are required: a refusal would hide the hole, not close it.
	pairs := outcome{check: pseudonymPairs(fx, true)}
	return []accessCase{
		research("linkage encounters join conditions", `SELECT e.patient, c.patient FROM encounters e JOIN conditions c ON c.encounter = e.id`, pairs),
		research("linkage encounters join medications", `SELECT e.patient, m.patient FROM encounters e JOIN medications m ON m.encounter = e.id`, pairs),
		research("linkage encounters join immunizations", `SELECT e.patient, i.patient FROM encounters AS e, immunizations AS i WHERE i.encounter = e.id`, pairs),
		research("linkage encounters join allergies", `SELECT e.patient, a.patient FROM allergies a LEFT JOIN encounters e ON e.id = a.encounter WHERE e.id IS NOT NULL`, pairs),
		research("linkage encounters join careplans", `SELECT x.patient, y.patient FROM encounters x JOIN careplans y ON y.encounter = x.id`, pairs),
		research("linkage notes join conditions", `SELECT n.patient, c.patient FROM clinical_notes n JOIN conditions c ON c.encounter = n.encounter`, pairs),
		research("linkage conditions through a cte", `WITH c AS (SELECT encounter, patient FROM conditions) SELECT e.patient, c.patient FROM c JOIN encounters e ON e.id = c.encounter`, pairs),
		research("linkage conditions through a subquery", `SELECT s.patient, s.patient FROM (SELECT patient FROM conditions) s`, pairs),
		research("linkage conditions star", `SELECT * FROM conditions`, outcome{check: noRealIDs(fx)}),
		research("linkage medications star", `SELECT m.* FROM medications m`, outcome{check: noRealIDs(fx)}),
		research("linkage export ids", `SELECT patient, patient FROM export_ids`, outcome{check: pseudonymPairs(fx, false)}),
		research("linkage cast to text", `SELECT patient::text FROM conditions`, refused(`patient`)),
		research("linkage join on the patient columns", `SELECT e.id FROM encounters e JOIN conditions c ON c.patient = e.patient`, refused(`patient`)),
		research("linkage where on a patient column", `SELECT count(*) FROM careplans WHERE patient = '`+fx.hidden+`'`, refused(`patient`)),
		research("linkage group by a patient column", `SELECT patient, count(*) FROM immunizations GROUP BY patient`, refused(`patient`)),
		research("linkage whole row", `SELECT row_to_json(a) FROM allergies a`, refused(`patient`)),
		research("linkage array_agg", `SELECT array_agg(patient) FROM medications`, refused(`patient`)),
		research("linkage quasi-identifiers", `SELECT zip, lat, lon, birthplace, deathdate FROM patients`, outcome{check: allNull}),
	}
}

// pseudonymPairs accepts rows of two columns that are both pseudonyms
// (never a real id) and equal: the same patient under the same key.
// nonEmpty: there must be rows, or the case proves nothing.
func pseudonymPairs(fx *accessEHR, nonEmpty bool) func([][]string) error {
	return func(rows [][]string) error {
		if nonEmpty && len(rows) == 0 {
			return fmt.Errorf("no rows: the case proves nothing")
		}
		if err := noRealIDs(fx)(rows); err != nil {
			return err
		}
		for _, r := range rows {
			if !strings.HasPrefix(r[0], "psn_") || !strings.HasPrefix(r[1], "psn_") {
				return fmt.Errorf("a value is not a pseudonym")
			}
			if r[0] != r[1] {
				return fmt.Errorf("the two pseudonyms of one patient differ: the columns use different keys")
			}
		}
		return nil
	}
}

// noRealIDs accepts rows none of whose values is a patient's real id.
func noRealIDs(fx *accessEHR) func([][]string) error {
	return func(rows [][]string) error {
		for _, r := range rows {
			for _, v := range r {
				if _, real := fx.patients[v]; real {
					return fmt.Errorf("a real patient id reached the researcher")
				}
			}
		}
		return nil
	}
}

func allNull(rows [][]string) error {
	if len(rows) == 0 {
		return fmt.Errorf("no rows: the case proves nothing")
	}
	for _, r := range rows {
		for _, v := range r {
			if v != "NULL" {
				return fmt.Errorf("a quasi-identifier is not NULL")
			}
		}
	}
	return nil
}
