package sqlrewrite

import "testing"

// BenchmarkPlanKnowingKept is the cost of a statement whose plan rests on
// the catalog (an inner table has the name) once the analysis keeps it:
// the facts it rests on checked again, no planning.
func BenchmarkPlanKnowingKept(b *testing.B) {
	pol := testPolicy(b)
	a := Analyze("SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits WHERE ssn = '1')")
	facts := &fakeFacts{has: map[TableName]bool{{Name: "visits"}: true}}
	first := a.PlanKnowing(pol, facts)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if a.PlanKnowing(pol, facts) != first {
			b.Fatal("planned again")
		}
	}
}
