package pgcatalog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/policy"
)

// TestSyntheaAgainstRealPostgres loads the demo EHR schema into a real
// PostgreSQL, reads its catalog, and checks that the documented example
// policy fits it and that a broken one is caught.
func TestSyntheaAgainstRealPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, conn, err := ehrdemo.StartLoaded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	defer conn.Close(context.Background())
	// Catalog details the folding must get right: a quoted mixed-case
	// schema and table, a dropped column, a view (not a table).
	for _, sql := range []string{
		`CREATE SCHEMA "Billing"`,
		`CREATE TABLE "Billing"."Claims" (id int, "PatientId" uuid, amount varchar(12), gone text, note text, icu text COLLATE "und-x-icu")`,
		`ALTER TABLE "Billing"."Claims" DROP COLUMN gone`,
		`CREATE VIEW public.patient_names AS SELECT first, last FROM public.patients`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	good, err := policy.Load("../testdata/synthea.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := Read(ctx, conn, good.Schemas()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cat.Tables[policy.TableName{Schema: "Billing", Name: "Claims"}]; ok {
		t.Error("Read returned a schema it was not asked for")
	}
	pat := cat.Tables[policy.TableName{Schema: "public", Name: "patients"}]
	if c := pat.Columns["healthcare_expenses"]; c.Type != "numeric(14,2)" || c.OID != policy.OIDNumeric || c.Modifier != 14<<16|2+4 {
		t.Errorf("healthcare_expenses: %+v", c)
	}
	if c := pat.Columns["birthdate"]; c.Type != "date" || c.OID != policy.OIDDate || c.Modifier != -1 {
		t.Errorf("birthdate: %+v", c)
	}
	if _, ok := cat.Tables[policy.TableName{Schema: "public", Name: "patient_names"}]; ok {
		t.Error("a view is not a table")
	}
	if err := good.CheckCatalog(cat); err != nil {
		t.Errorf("synthea example against the demo schema: %v", err)
	}

	all, err := Read(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	claims, ok := all.Tables[policy.TableName{Schema: "Billing", Name: "Claims"}]
	if !ok || len(claims.Columns) != 5 {
		t.Fatalf(`"Billing"."Claims": %+v`, claims)
	}
	if _, ok := claims.Columns["gone"]; ok {
		t.Error("dropped column listed")
	}
	// Collations, for the search-term check: the default one is the
	// database's (libc here), an ICU one is ICU, an integer has none.
	for name, want := range map[string][2]string{"note": {"c", "default"}, "icu": {"i", "und-x-icu"}, "id": {"", ""}} {
		if c := claims.Columns[name]; c.CollationProvider != want[0] || c.Collation != want[1] {
			t.Errorf("%s: collation %q %q, want %q %q", name, c.CollationProvider, c.Collation, want[0], want[1])
		}
	}

	bad, err := policy.Parse([]byte(`version: 1
tables:
  public.patients:
    subject_column: patient
    columns:
      ssn:       {mode: deterministic, key: ssn, type: text}
      birthdate: {mode: randomized, key: pii, type: text}
      income:    {mode: randomized, key: pii, type: integer}
      healthcare_expenses: {mode: randomized, key: pii, type: numeric}
      mrn:       {mode: deterministic, key: mrn, type: text}
      lat:       {mode: randomized, key: pii, type: text}
  public.patient:
    columns:
      ssn: {mode: deterministic, key: ssn, type: text}
  billing.claims:
    columns:
      amount: {mode: randomized, key: pii, type: numeric}
  '"Billing"."Claims"':
    subject_column: '"PatientId"'
    columns:
      amount: {mode: randomized, key: pii, type: varchar(12)}
      note: {mode: randomized, key: pii, type: text}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Validate(); err != nil {
		t.Fatal(err)
	}
	err = bad.CheckCatalog(all)
	wants := []string{
		`tables[billing.claims]: table billing.claims does not exist in the database (did you mean "Billing"."Claims"?)`,
		"tables[public.patient]: table public.patient does not exist in the database (line 12)",
		"tables[public.patients].subject_column: column patient does not exist in table public.patients",
		"tables[public.patients].columns[birthdate].type: the column is date, which cannot hold encrypted cells, and the policy declares text",
		"tables[public.patients].columns[healthcare_expenses].type: the column is numeric(14,2) but the policy declares numeric",
		"tables[public.patients].columns[mrn]: column mrn does not exist in table public.patients",
		"tables[public.patients].columns[lat].type: the column is double precision, which cannot hold encrypted cells",
	}
	if err == nil {
		t.Fatal("broken policy accepted")
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if ps := err.(policy.Problems); len(ps) != len(wants) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(wants), err)
	}
}
