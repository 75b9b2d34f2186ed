package sqlrewrite

import "testing"

// BenchmarkRewriteSort: the text phiguard sends for a sorted statement,
// the address read's shape (a join, an encrypted key and plaintext ones),
// made at every Parse of the statement.
func BenchmarkRewriteSort(b *testing.B) {
	pol := testPolicy(&testing.T{})
	sql := "SELECT e.id, e.start, p.first FROM encounters e LEFT JOIN patients p ON p.id = e.patient WHERE e.patient IN ($1) ORDER BY p.first ASC, e.start ASC NULLS FIRST, e.id ASC"
	plan := PlanFor(Analyze(sql), pol)
	if plan.Sort == nil {
		b.Fatalf("no sort plan: %v", plan.Refusal)
	}
	for _, c := range []struct {
		name    string
		rewrite func([]byte, *SortPlan) ([]byte, error)
	}{{"new text", rewriteSort}, {"same text again", RewriteSort}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.rewrite([]byte(sql), plan.Sort); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRewriteSortMemo: the memo gives the same text as a rewrite, for the
// same text only, and a caller changing what it got changes no later
// answer.
func TestRewriteSortMemo(t *testing.T) {
	pol := testPolicy(t)
	plan := PlanFor(Analyze("SELECT id FROM patients WHERE id > 1 ORDER BY first"), pol)
	for _, sql := range []string{"SELECT id FROM patients WHERE id > 1 ORDER BY first", "SELECT id FROM patients WHERE id > 2 ORDER BY first"} {
		want, err := rewriteSort([]byte(sql), plan.Sort)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := RewriteSort([]byte(sql), plan.Sort)
			if err != nil || string(got) != string(want) {
				t.Fatalf("%s: %q, %v; want %q", sql, got, err, want)
			}
			got[0] = 'X'
		}
	}
}
