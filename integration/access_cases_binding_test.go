package integration

// bindingCases are unqualified and schema-qualified column names that
// PostgreSQL binds somewhere other than the nearest restricted column of
// that name: the access rules must follow the name to where PostgreSQL
// binds it (sqlrewrite/bind_columns.go), no nearer and no further.
func bindingCases(fx *accessEHR) []accessCase {
	one := func(name, user, sql string, want outcome) accessCase {
		return accessCase{name: name, user: user, steps: []string{sql}, want: want}
	}
	innerZip := `SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM organizations WHERE zip LIKE '0%')`
	scalarZip := `SELECT (SELECT min(zip) FROM providers) AS z, count(*) FROM patients p`
	researchZip := `SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM payers WHERE zip IS NOT NULL)`
	return []accessCase{
		// The subquery's own zip, a plain column: PostgreSQL's answer, as
		// for a role without rules (these were refused, taken for the
		// masked patients.zip).
		one("binding inner plain zip", "biller", innerZip, rowsOf(innerZip)),
		one("binding inner plain zip in a scalar subquery", "biller", scalarZip, rowsOf(scalarZip)),
		one("binding inner plain zip under a row rule", "researcher", researchZip,
			rowsOf(`SELECT count(*) FROM patients WHERE id IN `+consented+` AND EXISTS (SELECT 1 FROM payers WHERE zip IS NOT NULL)`)),
		// No inner item has zip: it is the outer patients.zip, masked.
		one("binding outer masked zip", "biller",
			`SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM care_teams WHERE zip LIKE '0%')`, refused(`zip`)),
		one("binding outer masked zip past a function", "biller",
			`SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM generate_series(1, 1) g WHERE zip LIKE '0%')`, refused(`zip`)),
		// schema.table.column never names a subquery called table: this
		// is the outer table's zip (it was read in clear, unmasked).
		one("binding schema-qualified name skips a subquery", "biller",
			`SELECT (SELECT public.patients.zip FROM (SELECT 'a' AS zip) patients) FROM public.patients`, refused(`zip`)),
		// An alias's column list renames by position: n.note is the
		// column author. The row rule's push-down copied note = 'dr_bob'
		// into the rule's subquery over the table, where note is the
		// note itself: no row, where PostgreSQL (and the role's rule)
		// answers the role's notes by dr_bob.
		one("binding push-down under an alias column list, qualified", "dr_alice",
			`SELECT count(*) FROM clinical_notes AS n(id, patient, encounter, note, author) WHERE n.note = 'dr_bob'`,
			rowsOf(`SELECT count(*) FROM clinical_notes WHERE author = 'dr_bob' AND patient IN `+aliceSees)),
		one("binding push-down under an alias column list, unqualified", "researcher",
			`SELECT count(*) FROM clinical_notes AS n(id, patient, encounter, note, author) WHERE note = 'dr_bob'`,
			rowsOf(`SELECT count(*) FROM clinical_notes WHERE author = 'dr_bob' AND patient IN `+consented)),
		// A write check puts the new row's values for the target's
		// columns into the rule; the rule's own subquery names care_teams
		// ct, and an INSERT or UPDATE target aliased ct had ct.patient
		// there taken for the target's: 'H' IN (SELECT 'H' FROM
		// care_teams ct WHERE ...), true, and the note was written for a
		// patient dr_alice does not treat.
		one("binding write check under a target alias the rule uses, VALUES", "dr_alice",
			`INSERT INTO clinical_notes AS ct (patient, author, note) VALUES ('`+fx.hidden+`', 'dr_alice', 'x') RETURNING id`, refused(`clinical_notes`)),
		one("binding write check under a target alias the rule uses, SELECT", "dr_alice",
			`INSERT INTO clinical_notes AS ct (patient, author, note) SELECT '`+fx.hidden+`'::uuid, 'dr_alice', 'x' RETURNING id`, refused(`clinical_notes`)),
		one("binding write check under a target alias the rule uses, UPDATE", "dr_alice",
			`UPDATE clinical_notes AS ct SET patient = '`+fx.hidden+`' WHERE patient = '`+fx.aliceOnly+`' RETURNING id`, refused(`clinical_notes`)),
		// The row rule puts a subquery in place of patients, which
		// public.patients.city no longer reaches: PostgreSQL bound it to
		// the UPDATE's target, and the statement wrote the target's own
		// city where, on the table, it writes another patient's.
		one("binding schema-qualified name past a row rule's subquery", "dr_alice",
			`UPDATE patients SET city = (SELECT public.patients.city FROM patients WHERE id <> '`+fx.aliceOnly+`' ORDER BY id LIMIT 1) WHERE id = '`+fx.aliceOnly+`' RETURNING city`,
			refused(`patients`)),
		one("binding schema-qualified name skips a WITH query", "biller",
			`WITH patients AS (SELECT 'a' AS zip) SELECT (SELECT public.patients.zip FROM patients) FROM public.patients`, refused(`zip`)),
	}
}
