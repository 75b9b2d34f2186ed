package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSearchSample runs the search benchmark on 2,000 patients, 3 runs per
// query, with the search terms of design §8 (backfill with terms, search
// install, search_state ready): every answer through phiguard must be the
// plaintext one (run fails otherwise), no query may be refused (2,000
// patients are under every cap), and the report must hold a line per
// query, the counts, and each term column's storage. It then runs again on
// the dataset it kept (BENCH_KEEP's path): the second run loads nothing
// and its answers are checked the same way. It asserts no timing.
func TestSearchSample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	keep := filepath.Join(t.TempDir(), "k")
	for i, want := range []string{"loaded", "kept and reused"} {
		report, err := run(ctx, settings{patients: 2000, runs: 3, seed: 13, keep: keep})
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if i == 1 && !strings.Contains(report, want) {
			t.Errorf("run %d does not say %q:\n%s", i+1, want, report)
		}
		for _, q := range queries {
			if !strings.Contains(report, "| "+q.name+" | "+q.target+" | ") {
				t.Errorf("no line for %s in\n%s", q.name, report)
			}
			if strings.Contains(report, "| "+q.name+" | "+q.target+" | refused") {
				t.Errorf("%s refused:\n%s", q.name, report)
			}
		}
		for _, line := range []string{"| last | order, match |", "| first | order |", "| birthdate | order |", "| enc | phiguard_patients_last_m |"} {
			if !strings.Contains(report, line) {
				t.Errorf("no %q in\n%s", line, report)
			}
		}
		t.Log("\n" + report)
	}
}
