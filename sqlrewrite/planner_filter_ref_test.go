package sqlrewrite

import "testing"

// TestFilterRef: the WHERE's own filters on one column through two
// references of its table (a self-join) get two Refs; those through one
// reference share one; a filter in an OR tree gets none.
func TestFilterRef(t *testing.T) {
	pol := testPolicy(t)
	const sql = "SELECT a.id FROM patients a, patients b WHERE a.first >= 'x' AND b.first > 'y' AND a.first < 'z' AND (a.first < 'q' OR a.id = 1) ORDER BY a.first LIMIT 3"
	sp := PlanFor(Analyze(sql), pol).Sort
	if sp == nil || len(sp.Filters) != 4 {
		t.Fatalf("plan: %v", sp)
	}
	fs := sp.Filters
	if fs[0].Ref < 1 || fs[0].Ref != fs[2].Ref || fs[1].Ref < 1 || fs[1].Ref == fs[0].Ref || fs[3].Tree == 0 || fs[3].Ref != 0 {
		t.Errorf("refs %d %d %d %d (tree %d)", fs[0].Ref, fs[1].Ref, fs[2].Ref, fs[3].Ref, fs[3].Tree)
	}
}
