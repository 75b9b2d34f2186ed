package integration

import "testing"

// TestRedTeam3ViewCreatedInSameQuery: guard/catalog.go viewWritten knows
// the views over encrypted tables that the catalog held when the Query
// arrived. A view created by an earlier statement of the same simple
// Query is not among them, so an UPDATE (or INSERT) through it is
// neither refused nor encrypted: admin_ann (TEMP needs no CREATE on
// public) stores a plaintext SSN in patients.ssn. The LIKE on the stored
// value finds it, which it never would on a ciphertext.
func TestRedTeam3ViewCreatedInSameQuery(t *testing.T) {
	// Not parallel: it writes to the shared fixture (restored at the end),
	// which the parallel suites read.
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	admin := p.as(t, "admin_ann")
	rows, err := multiRows(ctx, admin, "BEGIN; "+
		"CREATE TEMP VIEW rt3v AS SELECT id, ssn FROM patients; "+
		"UPDATE rt3v SET ssn = 'RT3PLAIN' WHERE id = '"+fx.aliceOnly+"'; "+
		"SELECT count(*) FROM rt3v WHERE ssn LIKE 'RT3%'")
	multiRows(ctx, admin, "ROLLBACK")
	if err == nil && len(rows) == 1 && rows[0][0] == "1" {
		t.Errorf("an UPDATE through a view created earlier in the same Query wrote a plaintext patients.ssn (found by LIKE on the stored value)")
	} else if err == nil {
		t.Errorf("the UPDATE through the new view ran (rows %v)", rows)
	}
}

// TestRedTeam3ViewWriteNotTopLevel: viewWritten (guard/catalog.go) looks
// only at statements whose kind is a write; a write through a view over
// an encrypted table nested in a statement of another kind passes: a
// data-modifying CTE under SELECT, and EXPLAIN ANALYZE (which runs it).
// Either stores admin_ann's plaintext in patients.first (randomized
// encryption), where a LIKE on the view's column then finds it.
func TestRedTeam3ViewWriteNotTopLevel(t *testing.T) {
	// Not parallel: it writes to the shared fixture (restored at the end),
	// which the parallel suites read.
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	for _, write := range []string{
		"WITH w AS (UPDATE patient_summary SET first = 'RT3PLAIN' WHERE id = '" + fx.aliceOnly + "' RETURNING 1) SELECT count(*) FROM w",
		"EXPLAIN (ANALYZE, COSTS OFF) UPDATE patient_summary SET first = 'RT3PLAIN' WHERE id = '" + fx.aliceOnly + "'",
	} {
		admin := p.as(t, "admin_ann")
		if _, err := multiRows(ctx, admin, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		_, werr := multiRows(ctx, admin, write)
		n := -1
		if werr == nil {
			n = int(queryInt(t, admin, "SELECT count(*) FROM patient_summary WHERE id = '"+fx.aliceOnly+"' AND first LIKE 'RT3%'"))
		}
		multiRows(ctx, admin, "ROLLBACK")
		if werr == nil && n == 1 {
			t.Errorf("%.40s...: a write through patient_summary stored a plaintext patients.first", write)
		}
	}
}

// TestRedTeam3TempFunctionWrite: DO and CALL are refused because "they
// run code phiguard cannot analyse" in a database with encrypted columns,
// but CREATE FUNCTION is not (TEMP needs no CREATE on public): admin_ann
// creates pg_temp.f() whose body updates patients.first, calls it, and the
// plaintext lands in the encrypted column.
func TestRedTeam3TempFunctionWrite(t *testing.T) {
	// Not parallel: it writes to the shared fixture (restored at the end),
	// which the parallel suites read.
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	admin := p.as(t, "admin_ann")
	rows, err := multiRows(ctx, admin, "BEGIN; "+
		"CREATE FUNCTION pg_temp.rt3f() RETURNS int LANGUAGE sql AS $f$ UPDATE patients SET first = 'RT3PLAIN' WHERE id = '"+fx.aliceOnly+"' RETURNING 1 $f$; "+
		"SELECT pg_temp.rt3f(); "+
		"SELECT count(*) FROM patient_summary WHERE id = '"+fx.aliceOnly+"' AND first LIKE 'RT3%'")
	multiRows(ctx, admin, "ROLLBACK")
	if err == nil && len(rows) == 2 && rows[1][0] == "1" {
		t.Errorf("a temporary function's UPDATE stored a plaintext patients.first")
	} else if err == nil {
		t.Errorf("the function ran (rows %v)", rows)
	}
}
