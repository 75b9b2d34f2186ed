package integration

// captureCases try to make a row rule read something of the user's instead
// of the table the DBA meant (issue 10, hole 1): the rules read care_teams
// (and consents) unqualified, and before rules were bound to schemas a CTE
// of that name in the user's statement stood in for it. Each expects
// exactly the rows the rule allows, or a refusal.
func captureCases(fx *accessEHR) []accessCase {
	H := fx.hidden
	alice := func(name, sql, filter string) accessCase {
		return accessCase{name: name, user: "dr_alice", steps: []string{sql}, want: rowsOf(filter)}
	}
	fake := `(VALUES (current_user::text, '` + H + `'::uuid))`
	mine := "SELECT id, city FROM patients WHERE id IN " + aliceSees
	return []accessCase{
		alice("rule table shadowed by a cte", `WITH care_teams(clinician, patient) AS `+fake+` SELECT id, city FROM patients`, mine),
		alice("rule table shadowed by a cte with the rule's alias", `WITH care_teams(clinician, patient) AS `+fake+` SELECT p.id, p.city FROM patients p`, mine),
		alice("rule table shadowed on encounters", `WITH care_teams(clinician, patient) AS `+fake+` SELECT id FROM encounters`,
			"SELECT id FROM encounters WHERE patient IN "+aliceSees),
		alice("rule table shadowed by a materialized cte", `WITH care_teams(clinician, patient) AS MATERIALIZED `+fake+` SELECT id, city FROM patients`, mine),
		alice("rule table shadowed by a recursive cte", `WITH RECURSIVE care_teams(clinician, patient) AS `+fake+` SELECT id, city FROM patients`, mine),
		alice("rule table shadowed inside a subquery", `SELECT * FROM (WITH care_teams(clinician, patient) AS `+fake+` SELECT id, city FROM patients) s`, mine),
		alice("rule table shadowed inside a scalar subquery", `SELECT (WITH care_teams(clinician, patient) AS `+fake+` SELECT count(*) FROM patients WHERE id = '`+H+`')`, "SELECT 0::bigint"),
		alice("rule table shadowed inside exists", `SELECT 1 WHERE EXISTS (WITH care_teams(clinician, patient) AS `+fake+` SELECT 1 FROM patients WHERE id = '`+H+`')`, "SELECT 1 WHERE false"),
		alice("rule table shadowed in a cte body", `WITH care_teams(clinician, patient) AS `+fake+`, x AS (SELECT id, city FROM patients) SELECT * FROM x`, mine),
		alice("care_teams itself shadowed", `WITH care_teams(clinician, patient) AS (SELECT current_user::text, patient FROM public.care_teams) SELECT count(*) FROM care_teams`,
			"SELECT count(*) FROM care_teams WHERE clinician = 'dr_alice'"),
		alice("rule table shadowed on a join", `WITH care_teams(clinician, patient) AS `+fake+` SELECT e.id FROM encounters e JOIN patients p ON p.id = e.patient`,
			"SELECT id FROM encounters WHERE patient IN "+aliceSees),
		alice("rule table shadowed around a union", `WITH care_teams(clinician, patient) AS `+fake+` SELECT id FROM patients UNION ALL SELECT patient FROM encounters WHERE false`,
			"SELECT id FROM patients WHERE id IN "+aliceSees),
		alice("rule table shadowed with a lateral", `WITH care_teams(clinician, patient) AS `+fake+` SELECT p.id FROM organizations o, LATERAL (SELECT id FROM patients LIMIT 1000) p`,
			"SELECT p.id FROM organizations o, (SELECT id FROM patients WHERE id IN "+aliceSees+") p"),
		{name: "rule table shadowed in an update", user: "dr_alice",
			steps: []string{`WITH care_teams(clinician, patient) AS ` + fake + ` UPDATE patients SET city = 'x' WHERE id = '` + H + `' RETURNING id`},
			want:  rowsOrRefused("SELECT 1 WHERE false", `care_teams|patients`)},
		{name: "rule table shadowed in a delete", user: "dr_alice",
			steps: []string{`WITH care_teams(clinician, patient) AS ` + fake + ` DELETE FROM clinical_notes WHERE patient = '` + H + `' RETURNING id`},
			want:  rowsOrRefused("SELECT 1 WHERE false", `care_teams|clinical_notes`)},
		{name: "rule table shadowed in an insert check", user: "dr_alice",
			steps: []string{`WITH care_teams(clinician, patient) AS ` + fake + ` INSERT INTO clinical_notes (patient, author, note) VALUES ('` + H + `', 'dr_alice', 'x') RETURNING id`},
			want:  refused(`clinical_notes`)},
		{name: "rule table shadowed in a cursor", user: "dr_alice",
			steps: []string{`DECLARE c CURSOR FOR WITH care_teams(clinician, patient) AS ` + fake + ` SELECT id FROM clinical_notes`, `FETCH ALL FROM c`},
			want:  rowsOf("SELECT id FROM clinical_notes WHERE patient IN " + aliceSees)},
		{name: "temporary table named like the rule table", user: "dr_alice",
			steps: []string{`CREATE TEMP TABLE care_teams (clinician text, patient uuid)`, `SELECT id, city FROM patients`},
			want:  rowsOrRefused(mine, `ddl|care_teams`)},
		{name: "research rule table shadowed", user: "researcher",
			steps: []string{`WITH consents(patient, purpose, granted) AS (SELECT id, 'research', true FROM public.patients) SELECT count(*) FROM patients`},
			want:  rowsOrRefused("SELECT count(*) FROM patients WHERE id IN "+consented, `consents`)},
	}
}
