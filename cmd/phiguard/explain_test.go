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

const rolesPolicy = `version: 1
tables:
  public.patients:
    columns:
      ssn: {mode: deterministic, key: ssn, type: text}
roles:
  billing:
    users: [postgres, billing_clerk]
    statements: [read]
    columns:
      patients.ssn: {masked: '***-**-{last4}'}
      patients.first: plaintext
      patients.last: pseudonym
    rows:
      patients: birthdate < '2000-01-01'
  admin:
    users: [dba]
    statements: [read, write, ddl, copy, utility]
    other_columns: plaintext
`

// TestExplainAndCheckRoles runs phiguard explain and check --catalog on
// roles against the demo EHR.
func TestExplainAndCheckRoles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, _ := startDemoDB(t, ctx)

	file := filepath.Join(t.TempDir(), "roles.yml")
	os.WriteFile(file, []byte(rolesPolicy), 0o600)
	cfg := writeConfig(t, file, cluster.Host, cluster.Port)
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := dispatch(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := run("explain", "--config", cfg, "--role", "admin", "SELECT ssn FROM patients")
	if code != 0 || !strings.Contains(out, "role:      admin (unrestricted") || !strings.Contains(out, "decision:  allowed") || !strings.Contains(out, "sql:       unchanged") {
		t.Errorf("explain admin: exit %d\n%s%s", code, out, errOut)
	}
	// Where the parts touching the encrypted column run.
	for sql, wants := range map[string][]string{
		"SELECT id FROM patients WHERE ssn = $1 ORDER BY ssn DESC, id LIMIT 5": {
			"$1                     compared with public.patients.ssn (deterministic): sealed by phiguard, compared in the database",
			"ORDER BY ssn           in phiguard, after decryption, DESC NULLS FIRST",
			"ORDER BY plaintext     ranked in the database",
			"LIMIT/OFFSET           applied by phiguard"},
		"UPDATE patients SET ssn = '999-00-1234' WHERE id = $1": {"literal #1             written into public.patients.ssn (deterministic): sealed by phiguard"},
		"SELECT id FROM patients WHERE ssn ~ '^999'":            {"encryption: refused, SQLSTATE 0A000", "ssn"},
		"SELECT id FROM patients WHERE lower(ssn) ILIKE $1 AND id > 3": {
			"WHERE lower(ssn) ILIKE in phiguard, after decryption, on the rows the database returns (the constant never reaches the database)"},
		"SELECT DISTINCT ssn, id FROM patients ORDER BY ssn": {
			"DISTINCT ssn           in phiguard, after decryption, PostgreSQL's equality for text",
			"DISTINCT plaintext     compared by their rank in the database",
			"ORDER BY ssn           in phiguard, after decryption, ASC NULLS LAST"},
		"SELECT max(ssn), count(*) FROM patients WHERE ssn LIKE '9%'": {
			"max(public.patients.ssn) AS max in phiguard, from the rows the database returns (each aggregate sent as its argument), after decryption",
			"count(*) AS count",
			"WHERE ssn LIKE         in phiguard"},
		"SELECT id FROM patients WHERE ssn LIKE '999%' AND id > 3": {
			"WHERE ssn LIKE         in phiguard, after decryption, on the rows the database returns (the constant never reaches the database)"},
		"SELECT id FROM patients WHERE ssn LIKE '999%' ORDER BY last DESC, 1 LIMIT 20": {
			"ORDER BY plaintext     ordered in the database as written (plaintext keys only); phiguard keeps the database's order",
			"LIMIT/OFFSET           FETCH FIRST k ROWS ONLY in the database (a row not returned sorts at or after every returned one)"},
		"SELECT 1": {"encryption: no encrypted table"},
	} {
		code, out, errOut = run("explain", "--config", cfg, "--role", "admin", sql)
		for _, w := range wants {
			if code != 0 || !strings.Contains(out, w) {
				t.Errorf("explain %s: exit %d, output lacks %q:\n%s%s", sql, code, w, out, errOut)
			}
		}
	}
	code, out, errOut = run("explain", "--config", cfg, "--role", "billing", "SELECT id, ssn, first, last FROM patients")
	if code != 0 || !strings.Contains(out, "role:      billing (with rules)") {
		t.Errorf("explain billing: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("explain billing:\n%s", out)
	switch {
	case strings.Contains(out, "decision:  refused, SQLSTATE 42501"):
		if !strings.Contains(out, "rule:      billing") {
			t.Errorf("a refusal must name its rule:\n%s", out)
		}
	case strings.Contains(out, "decision:  allowed"):
		for _, w := range []string{"masked ***-**-{last4}", "public.patients.last: pseudonym (key pseudonym)", "billing: public.patients.ssn"} {
			if !strings.Contains(out, w) {
				t.Errorf("explain billing lacks %q:\n%s", w, out)
			}
		}
	default:
		t.Errorf("explain billing: no decision:\n%s", out)
	}
	if code, _, errOut = run("explain", "--config", cfg, "--role", "nobody", "SELECT 1"); code != 1 || !strings.Contains(errOut, `no role "nobody" (roles: admin, billing, default)`) {
		t.Errorf("unknown role: exit %d\n%s", code, errOut)
	}

	// A column whose search terms are ready: its range is narrowed by the term.
	ready := filepath.Join(t.TempDir(), "ready.yml")
	os.WriteFile(ready, []byte(strings.Replace(rolesPolicy, "ssn: {mode: deterministic, key: ssn, type: text}",
		"ssn: {mode: deterministic, key: ssn, type: text, state: encrypted, search: [order], search_key_version: 1, search_state: ready}", 1)), 0o600)
	readyCfg := writeConfig(t, ready, cluster.Host, cluster.Port)
	code, out, errOut = run("explain", "--config", readyCfg, "--role", "admin", "SELECT id FROM patients WHERE ssn >= '999' AND id > 3")
	if w := "WHERE ssn >=           narrowed in the database through its order term index"; code != 0 || !strings.Contains(out, w) {
		t.Errorf("explain of a ready column's range: exit %d, output lacks %q:\n%s%s", code, w, out, errOut)
	}
	// Its ORDER BY ... LIMIT and its min run in rounds through the term.
	code, out, errOut = run("explain", "--config", readyCfg, "--role", "admin", "SELECT id FROM patients ORDER BY ssn DESC, id LIMIT 5")
	for _, w := range []string{"ORDER BY ssn           DESC NULLS FIRST: ordered in the database through its order term (index phiguard_patients_ssn_o)",
		"ORDER BY plaintext     ranked in the database, ordered by phiguard within ties of ssn's order term", "LIMIT/OFFSET           FETCH FIRST k ROWS WITH TIES"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("explain of ORDER BY a ready column: exit %d, output lacks %q:\n%s%s", code, w, out, errOut)
		}
	}
	code, out, errOut = run("explain", "--config", readyCfg, "--role", "admin", "SELECT max(ssn) FROM patients")
	if w := "the database orders by its order term (index phiguard_patients_ssn_o) and returns FETCH FIRST 18 ROWS WITH TIES"; code != 0 || !strings.Contains(out, w) {
		t.Errorf("explain of max of a ready column: exit %d, output lacks %q:\n%s%s", code, w, out, errOut)
	}

	code, out, errOut = run("check", "--config", cfg, "--catalog")
	if code != 0 || !strings.Contains(errOut, `warning: roles.admin.users: user "dba" does not exist`) {
		t.Errorf("check roles: exit %d\n%s%s", code, out, errOut)
	}
	broken := strings.NewReplacer("patients.last: pseudonym", "patients.nickname: pseudonym",
		"birthdate < '2000-01-01'", "birth_date < '2000-01-01'").Replace(rolesPolicy) +
		"  clinician:\n    users: [doc]\n    rows:\n      encounter: 'true'\n"
	os.WriteFile(file, []byte(broken), 0o600)
	code, out, errOut = run("check", "--config", cfg, "--catalog")
	if code != 1 {
		t.Errorf("broken roles: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		"invalid roles:",
		"roles.billing.columns[public.patients.nickname]: column nickname does not exist in table public.patients",
		"roles.billing.rows[public.patients]: the row rule does not run:",
		`column "birth_date" does not exist`,
		"roles.clinician.rows[public.encounter]: table public.encounter does not exist in the database",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("broken roles: output lacks %q:\n%s", w, errOut)
		}
	}
}
