package sqlrewrite

import (
	"os"
	"strings"
	"testing"
)

// TestScalarSubqueryStarName: a scalar subquery is named after its one
// output column; for SELECT * (q.*, (x).*) that is the column the *
// expands to, which the planner does not see. It took the name for
// ?column? (or q), so a FROM subquery of it seemed to lack ssn, and ssn
// in its WHERE bound to the outer encrypted patients.ssn: the constant
// was encrypted and compared with the subquery's plain 'x' (checked on
// PostgreSQL 15: v's column is ssn, and every row is counted). The name
// is now unknown: the binding is refused, not guessed.
func TestScalarSubqueryStarName(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT * FROM (VALUES ('x')) z(ssn))) v WHERE ssn = 'x')",
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT z.* FROM (VALUES ('x')) z(ssn))) v WHERE ssn = 'x')",
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT (z).* FROM (VALUES ('x')) z(ssn))) v WHERE ssn = 'x')",
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT * FROM (VALUES ('x')) z(ssn))::text) v WHERE ssn = 'x')",
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT CASE WHEN true THEN 'x' ELSE (SELECT * FROM (VALUES ('x')) z(ssn)) END) v WHERE ssn = 'x')",
	} {
		if plan := PlanFor(Analyze(sql), pol); plan.Refusal == nil && len(plan.Values) > 0 {
			t.Errorf("%s: sealed %d constants for the outer ssn; PostgreSQL binds ssn to v's column", sql, len(plan.Values))
		}
	}
	// As an output name: ORDER BY ssn is the entry, not patients.ssn.
	sql := "SELECT (SELECT * FROM (SELECT p.city) z(ssn)) FROM patients p ORDER BY ssn LIMIT 1"
	if plan := PlanFor(Analyze(sql), pol); plan.Refusal == nil && plan.Sort != nil {
		t.Errorf("%s: the proxy sorts (%v); PostgreSQL sorts by the entry", sql, plan.Sort)
	}
	// A VALUES is named column1 (no star: known).
	sql = "SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT (VALUES ('x'))) v WHERE column1 = 'x')"
	if plan := PlanFor(Analyze(sql), pol); plan.Refusal != nil {
		t.Errorf("%s: refused: %v", sql, plan.Refusal)
	}
}

// TestRenamedOuterEncryptedNotLeftToCatalog: an unqualified name bound
// to an outer encrypted column under another name (a subquery's ssn AS
// label) past an inner table cannot be left to the catalog, which lists
// only the tables with a column named like an encrypted column: it is
// refused. Under its own name it is left to the catalog as before.
func TestRenamedOuterEncryptedNotLeftToCatalog(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{
		"SELECT count(*) FROM (SELECT ssn AS label FROM patients) v WHERE EXISTS (SELECT 1 FROM providers WHERE label = 'l1')",
		"WITH v AS (SELECT ssn AS label FROM patients) SELECT count(*) FROM v WHERE EXISTS (SELECT 1 FROM providers WHERE label = 'l1')",
		"SELECT count(*) FROM (SELECT ssn AS xmin FROM patients) v WHERE EXISTS (SELECT 1 FROM providers WHERE xmin = '1')",
	} {
		if plan := PlanFor(Analyze(sql), pol); plan.Refusal == nil {
			t.Errorf("%s: planned (sealed %d, left to the catalog %v); want it refused", sql, len(plan.Values), plan.Unshadowed)
		}
	}
	for _, sql := range []string{
		"SELECT count(*) FROM patients v WHERE EXISTS (SELECT 1 FROM providers WHERE ssn = '1')",
		"SELECT count(*) FROM (SELECT ssn AS label FROM patients) v WHERE label = '1'",
	} {
		if plan := PlanFor(Analyze(sql), pol); plan.Refusal != nil || len(plan.Values) != 1 {
			t.Errorf("%s: sealed %d constants (refusal %v), want 1", sql, len(plan.Values), plan.Refusal)
		}
	}
}

// TestPushDownUnderAliasColumnList: the row rule's push-down copies
// col = constant into the rule's subquery, where col is the table's own
// column; under an alias's column list the name is another column's
// (notes AS n(patient, id): id is the column patient), so it is not
// copied. Before, id = 5 was copied and read the table's id: rows lost.
func TestPushDownUnderAliasColumnList(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, c := range []struct {
		sql    string
		copied bool
	}{
		{"SELECT * FROM notes AS n(patient, id) WHERE id = 5", false},
		{"SELECT * FROM notes AS n(patient, id) WHERE n.id = 5", false},
		{"SELECT * FROM notes AS n(id, patient) WHERE n.id = 5", true},
		{"SELECT * FROM notes AS n WHERE id = 5", true},
	} {
		acc := accessFor(t, pol, "clinician", c.sql, false)
		if acc.Refusal != nil {
			t.Fatalf("%s: refused: %v", c.sql, acc.Refusal.Message)
		}
		if got := strings.Contains(acc.SQL, "AND id = 5 OFFSET 0"); got != c.copied {
			t.Errorf("%s: copied into the rule's subquery: %v, want %v\n%s", c.sql, got, c.copied, acc.SQL)
		}
	}
}

// TestJoinOnSeesItsTables: ON binds a name among the tables it joins,
// then the enclosing levels, never the items before the JOIN at its
// level (checked on PostgreSQL 15: o.ssn, count 1).
func TestJoinOnSeesItsTables(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, c := range []struct {
		sql    string
		sealed int
	}{
		{"SELECT count(*) FROM (SELECT 'x'::text AS ssn) o WHERE EXISTS (SELECT 1 FROM patients p, providers a JOIN (SELECT 1 AS k) x ON ssn = 'x')", 0},
		{"SELECT count(*) FROM patients p, (SELECT 'x'::text AS ssn) o JOIN providers a ON ssn = 'x'", 0},
		{"SELECT count(*) FROM (SELECT 'x'::text AS ssn) o WHERE EXISTS (SELECT 1 FROM patients p JOIN (SELECT 1 AS k) x ON true JOIN providers a ON ssn = 'x')", 1},
	} {
		if plan := PlanFor(Analyze(c.sql), pol); plan.Refusal != nil || len(plan.Values) != c.sealed {
			t.Errorf("%s: sealed %d constants (refusal %v), want %d", c.sql, len(plan.Values), plan.Refusal, c.sealed)
		}
	}
}

// TestOuterQualifiedStar: the columns of a FROM subquery of q.* are q's,
// q found as the binder finds it: an enclosing level's q, and with a
// schema a table, not a subquery called q. The constant compared with
// the subquery's ssn is sealed.
func TestOuterQualifiedStar(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{
		"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM (SELECT p.* FROM providers) v WHERE ssn = '1')",
		"SELECT count(*) FROM patients p WHERE EXISTS (SELECT 1 FROM (SELECT p.* FROM (SELECT 'x' AS ssn) p2) v WHERE v.ssn = '1')",
		"SELECT count(*) FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT public.patients.* FROM (SELECT 'x' AS ssn) patients) v WHERE ssn = '1')",
		"SELECT v.ssn FROM patients p, LATERAL (SELECT p.* FROM (SELECT 'x' AS ssn) p2) v WHERE v.ssn = '1'",
	} {
		if plan := PlanFor(Analyze(sql), pol); plan.Refusal == nil && len(plan.Values) != 1 {
			t.Errorf("%s: sealed %d constants, want 1", sql, len(plan.Values))
		}
	}
}

// TestWriteCheckIgnoresTargetAlias: a write check puts the new row's
// values into the rule for the target's columns, bare or qualified with
// the table's own name; a target alias is no name of the rule's, and
// the rule's subquery may call a table of its own so (care_teams ct).
// With the alias ct taken for the target, ct.patient in the rule's
// subquery became the new row's patient, and the check always passed.
func TestWriteCheckIgnoresTargetAlias(t *testing.T) {
	path := t.TempDir() + "/policy.yml"
	if err := os.WriteFile(path, []byte(`version: 1
roles:
  clinician:
    users: [dr_alice]
    other_columns: plaintext
    statements: [read, write]
    rows:
      notes: "patient IN (SELECT ct.patient FROM care_teams ct WHERE ct.clinician = current_user)"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"INSERT INTO notes AS ct (id, patient, body) VALUES (1, 'p', 'x')",
		"INSERT INTO notes AS ct (id, patient, body) SELECT 1, 'p', 'x'",
		"UPDATE notes AS ct SET patient = 'p', body = 'x' WHERE id = 1",
	} {
		acc := accessFor(t, pol, "clinician", sql, false)
		if acc.Refusal != nil {
			t.Fatalf("%s: refused: %s", sql, acc.Refusal.Message)
		}
		if strings.Contains(acc.SQL, "SELECT 'p' FROM") || strings.Contains(acc.SQL, "SELECT phiguard_new.patient FROM") ||
			!strings.Contains(acc.SQL, "SELECT ct.patient FROM public.care_teams ct") {
			t.Errorf("%s: the rule's own ct.patient was replaced:\n%s", sql, acc.SQL)
		}
	}
}

// TestSchemaQualifiedPastRowRule: a row rule puts a subquery in place of
// its table, which schema.table.col does not reach (checked on
// PostgreSQL 15: it binds to an enclosing level's table, an UPDATE's
// target, or fails): refused, where phiguard sent it and the UPDATE wrote
// the target's own city.
func TestSchemaQualifiedPastRowRule(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{
		"UPDATE patients SET city = (SELECT public.patients.city FROM patients WHERE id = 'b') WHERE id = 'a'",
		"SELECT public.patients.city FROM public.patients",
		"SELECT public.patients.* FROM patients",
	} {
		acc := accessFor(t, pol, "clinician", sql, false)
		if acc.Refusal == nil || !strings.Contains(acc.Refusal.Message, "named with its schema") {
			t.Errorf("%s: %v, want refused\n%s", sql, acc.Refusal, acc.SQL)
		}
	}
	// With break-glass no subquery takes the table's place.
	if acc := accessFor(t, pol, "clinician", "SELECT public.patients.city FROM public.patients", true); acc.Refusal != nil {
		t.Errorf("break-glass: refused: %s", acc.Refusal.Message)
	}
}
