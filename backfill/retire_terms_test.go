package backfill

import (
	"strings"
	"testing"
)

// TestCheckRetireTerms: version V of a key is refused while a column of
// it has search_key_version V, and while a column's census counts cells
// with terms of V; a column of another key, or terms of another version,
// do not hold it.
func TestCheckRetireTerms(t *testing.T) {
	pol := mustPolicy(t, strings.Replace(termColumns, "search: [equality, order], search_key_version: 1}", "search: [equality, order], search_key_version: 2, search_state: rekeying, state: encrypted}", 1))
	cs := map[string]Census{
		"public.patients.first":     {TermVersions: map[uint32]int64{1: 3, 2: 7}},
		"public.patients.birthdate": {TermVersions: map[uint32]int64{2: 10}},
	}
	err := CheckRetireTerms(pol, cs, "patients-pii", 1)
	if err == nil || !strings.Contains(err.Error(), "search_key_version of public.patients.first (move") ||
		!strings.Contains(err.Error(), "search terms of cells in public.patients.first (3 cells) derive from it") ||
		strings.Contains(err.Error(), "birthdate") {
		t.Errorf("version 1: %v", err)
	}
	err = CheckRetireTerms(pol, cs, "patients-pii", 2)
	if err == nil || !strings.Contains(err.Error(), "search_key_version of public.patients.birthdate (move") ||
		!strings.Contains(err.Error(), "public.patients.birthdate (10 cells), public.patients.first (7 cells)") {
		t.Errorf("version 2: %v", err)
	}
	if err := CheckRetireTerms(pol, cs, "patients-pii", 3); err != nil {
		t.Errorf("version 3: %v", err)
	}
	if err := CheckRetireTerms(pol, map[string]Census{}, "patients-ssn", 1); err != nil {
		t.Errorf("another key: %v", err)
	}
}
