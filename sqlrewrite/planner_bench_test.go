package sqlrewrite

import "testing"

// BenchmarkPlanFor plans (uncached) a statement of the shapes an EHR
// screen sends: a join, a correlated subquery and a FROM subquery, with
// qualified and unqualified names. Planning runs once per shape (the
// plan is cached with the analysis); this is its cost.
func BenchmarkPlanFor(b *testing.B) {
	pol := testPolicy(b)
	const sql = `SELECT p.id, p.first, a.admitted FROM patients p JOIN admissions a ON a.id = p.id
  WHERE p.ssn = $1 AND EXISTS (SELECT 1 FROM billing.claims c WHERE c.member_ssn = p.ssn AND c.member_mrn = $2)
  AND p.id IN (SELECT s.id FROM (SELECT id, passport FROM patients) s WHERE s.passport = 'x')`
	a := Analyze(sql)
	if a.Err != nil {
		b.Fatal(a.Err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if p := PlanFor(a, pol); p.Refusal != nil {
			b.Fatal(p.Refusal)
		}
	}
}

// BenchmarkPlanForProbed plans (uncached) a statement whose name binds
// to an outer encrypted column past an inner table: the plan writes a
// probe into the inner WHERE (scope_probe.go), which finds the WHERE
// keyword with pg_query's scanner.
func BenchmarkPlanForProbed(b *testing.B) {
	pol := testPolicy(b)
	a := Analyze(`SELECT p.id, p.first FROM patients p WHERE p.id > 10 AND EXISTS (SELECT 1 FROM visits v WHERE v.id = p.id AND ssn = $1)`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if p := PlanFor(a, pol); p.Refusal != nil {
			b.Fatal(p.Refusal)
		}
	}
}
