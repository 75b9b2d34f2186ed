package sqlrewrite

import (
	"strings"
	"testing"
)

// TestSortPlanColumnNames: a sorted read whose text RewriteSort cannot
// cut (a parenthesized SELECT, red team 31d) fails with an error saying
// so, and the plan names the encrypted columns it sorts, filters and
// aggregates by, each once, for the refusal to name (guard's sortedText).
func TestSortPlanColumnNames(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted}
      born: {mode: randomized, key: k, type: date, state: encrypted}
`)
	sql := "(SELECT id, name FROM people WHERE born >= '1950-01-01' AND name LIKE 'a%' ORDER BY name, born, id) LIMIT 5"
	plan := PlanFor(Analyze(sql), pol)
	if plan.Sort == nil {
		t.Fatalf("no sort plan: %v", plan.Refusal)
	}
	if got, want := plan.Sort.ColumnNames(), "public.people.name, public.people.born"; got != want {
		t.Errorf("ColumnNames() = %q, want %q", got, want)
	}
	if _, err := RewriteSort([]byte(sql), plan.Sort); err == nil || !strings.Contains(err.Error(), "parenthesized SELECT") {
		t.Errorf("RewriteSort: %v, want an error naming the parenthesized SELECT", err)
	}
}
