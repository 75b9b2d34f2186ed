package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSearchSample runs the search benchmark on 2,000 patients, 3 runs per
// query: every query phiguard does not refuse must give the plaintext
// answer (run fails otherwise), and the report must hold a line per
// query. It asserts no timing.
func TestSearchSample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	report, err := run(ctx, settings{patients: 2000, runs: 3, seed: 13, out: filepath.Join(t.TempDir(), "out.md")})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if !strings.Contains(report, "| "+q.name+" |") {
			t.Errorf("no line for %s in\n%s", q.name, report)
		}
	}
	// The two sorted reads run today; a refusal of either is a regression.
	for _, q := range queries[3:] {
		if strings.Contains(report, "| "+q.name+" | "+q.target+" | refused") {
			t.Errorf("%s refused:\n%s", q.name, report)
		}
	}
	t.Log("\n" + report)
}
