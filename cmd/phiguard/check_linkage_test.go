package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/internal/ehrdemo"
)

// holedResearch is the demo policy's research role as it was when a join
// undid its pseudonyms (issue 10, hole 5): patients.id and
// encounters.patient pseudonymized, every other patient column in clear.
const holedResearch = `version: 1
tables:
  public.patients:
    subject_column: id
  public.encounters:
    subject_column: patient
roles:
  research:
    users: [researcher]
    statements: [read, utility]
    columns:
      patients.id:        {pseudonym: pseudonym}
      encounters.patient: pseudonym
    rows:
      care_teams: "false"
`

// TestCheckCatalogLinkage: check --catalog names every clear column that
// holds the identifiers a role sees pseudonymized, and the demo policy has
// none left.
func TestCheckCatalogLinkage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, conn := startDemoDB(t, ctx)
	for _, u := range ehrdemo.DemoUsers() {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+u+" LOGIN"); err != nil {
			t.Fatal(err)
		}
	}
	// The demo's care-team table, and a scratch table with a patient
	// column but no foreign key: the same values all the same.
	if _, err := conn.PgConn().Exec(ctx, ehrdemo.DemoSQL()+"; CREATE TABLE public.extract (patient uuid, note text)").ReadAll(); err != nil {
		t.Fatal(err)
	}

	holed := filepath.Join(t.TempDir(), "holed.yml")
	os.WriteFile(holed, []byte(holedResearch), 0o600)
	code, out, errOut := runCheckArgs("--config", writeConfig(t, holed, cluster.Host, cluster.Port), "--catalog")
	if code != 0 {
		t.Fatalf("holed policy: exit %d (linkage is a warning)\n%s%s", code, out, errOut)
	}
	t.Logf("holed policy:\n%s", errOut)
	for _, table := range []string{"conditions", "medications", "immunizations", "allergies", "careplans"} {
		want := "warning: roles.research: linkage: column public." + table + ".patient is readable in clear (foreign key public." + table + ".patient -> public.patients.id) and holds the identifiers of public.patients.id, which the role sees pseudonymized"
		if !strings.Contains(errOut, want) {
			t.Errorf("holed policy: no warning %q in\n%s", want, errOut)
		}
	}
	for _, want := range []string{
		"roles.research: linkage: column public.extract.patient is readable in clear (same name and type as subject column public.encounters.patient)",
		// The built-in default role denies what any role restricts, and
		// reads the clinical tables in clear: the same linkage.
		"roles.default: linkage: column public.conditions.patient is readable in clear",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("holed policy: no warning %q in\n%s", want, errOut)
		}
	}
	for _, not := range []string{"public.care_teams.patient", "public.encounters.id", "roles.research: linkage: column public.encounters.patient"} {
		if strings.Contains(errOut, "linkage: column "+not) || strings.Contains(errOut, not+" is readable") {
			t.Errorf("holed policy: warned of %s (no rows, or not a patient id):\n%s", not, errOut)
		}
	}

	// The demo policy: no linkage for any role, and nothing else to say.
	os.WriteFile(holed, ehrdemo.DemoPolicy(), 0o600)
	conn.Exec(ctx, "DROP TABLE public.extract")
	code, out, errOut = runCheckArgs("--config", writeConfig(t, holed, cluster.Host, cluster.Port), "--catalog")
	if code != 0 || strings.Contains(errOut, "linkage") {
		t.Errorf("demo policy: exit %d\n%s%s", code, out, errOut)
	}
}

// TestCheckWarnsOfWritesRuleTables: a role the policy lets write a table
// its own rules read is an escalation path, and check says so.
func TestCheckWarnsOfWritesRuleTables(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.yml")
	os.WriteFile(file, []byte(`version: 1
roles:
  coordinator:
    users: [coord]
    writes_rule_tables: [care_teams]
    rows:
      patients: "id IN (SELECT ct.patient FROM care_teams ct WHERE ct.clinician = current_user)"
`), 0o600)
	code, out, errOut := runCheckArgs("--policy", file)
	want := `p.yml: warning: roles.coordinator.writes_rule_tables: role coordinator may write public.care_teams, which its row rules "coordinator: rows of public.patients" read: an escalation path`
	if code != 0 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, want a warning %q\n%s%s", code, want, out, errOut)
	}
	if code, _, errOut = runCheckArgs("--policy", "../../examples/demo-policy.yml"); code != 0 || strings.Contains(errOut, "warning") {
		t.Errorf("demo policy: exit %d\n%s", code, errOut)
	}
}
