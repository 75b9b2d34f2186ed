package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExplainMatchTerm: phiguard explain of LIKE and ILIKE on a ready
// column with match says which index a literal pattern's terms use and
// that a parameter pattern's is chosen at each Bind (a third one's is
// evaluated in phiguard only).
func TestExplainMatchTerm(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, _ := startDemoDB(t, ctx)
	ready := filepath.Join(t.TempDir(), "match.yml")
	os.WriteFile(ready, []byte(strings.Replace(rolesPolicy, "ssn: {mode: deterministic, key: ssn, type: text}",
		"ssn: {mode: deterministic, key: ssn, type: text, state: encrypted, search: [order, match], search_key_version: 1, search_state: ready}", 1)), 0o600)
	cfg := writeConfig(t, ready, cluster.Host, cluster.Port)
	for sql, want := range map[string]string{
		"SELECT id FROM patients WHERE ssn ILIKE '123%' AND id > 3":                  "WHERE ssn ILIKE        term: the prefix key (phiguard_patients_ssn_p) if the pattern starts with 3 literal characters, else match tokens (phiguard_patients_ssn_m)",
		"SELECT id FROM patients WHERE ssn LIKE '%4_5%' ESCAPE '#'":                  "WHERE ssn LIKE         term: the prefix key",
		"SELECT id FROM patients WHERE ssn LIKE $1":                                  "WHERE ssn LIKE         term chosen at each Bind (a variant of the statement phiguard prepares): the prefix key (phiguard_patients_ssn_p) if the bound pattern starts",
		"SELECT id FROM patients WHERE ssn LIKE $1 AND ssn ILIKE $2 AND ssn LIKE $3": "WHERE ssn LIKE         in phiguard, after decryption, on the rows the rest of the statement selects (a third LIKE",
		"SELECT id FROM patients WHERE ssn NOT LIKE '123%'":                          "WHERE ssn NOT LIKE     in phiguard, after decryption",
	} {
		var out, errOut bytes.Buffer
		code := dispatch([]string{"explain", "--config", cfg, "--role", "admin", sql}, &out, &errOut)
		if code != 0 || !strings.Contains(out.String(), want) {
			t.Errorf("explain %s: exit %d, output lacks %q:\n%s%s", sql, code, want, out.String(), errOut.String())
		}
	}
}
