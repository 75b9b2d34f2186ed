package policy

import (
	"strings"
	"testing"
)

func col(typ string, oid uint32, mod int32) CatalogColumn {
	return CatalogColumn{Type: typ, OID: oid, Modifier: mod}
}

// syntheaCatalog is the part of internal/ehrdemo/schema.sql the synthea
// policy touches, as pg_attribute describes it.
func syntheaCatalog() Catalog {
	text := col("text", OIDText, -1)
	return Catalog{Tables: map[TableName]CatalogTable{
		{"public", "patients"}: {Columns: map[string]CatalogColumn{
			"id": col("uuid", 2950, -1), "birthdate": col("date", OIDDate, -1),
			"ssn": text, "drivers": text, "passport": text, "first": text,
			"last": text, "maiden": text, "address": text,
			"income":              col("integer", OIDInt4, -1),
			"healthcare_expenses": col("numeric(14,2)", OIDNumeric, 14<<16|2+4),
		}},
		{"public", "encounters"}: {Columns: map[string]CatalogColumn{
			"id": col("uuid", 2950, -1), "patient": col("uuid", 2950, -1),
		}},
	}}
}

func TestCheckCatalogSynthea(t *testing.T) {
	p := mustLoad(t, "testdata/synthea.good.yml")
	if err := p.CheckCatalog(syntheaCatalog()); err != nil {
		t.Fatal(err)
	}
	// Once the backfill converted birthdate to text, it still passes.
	cat := syntheaCatalog()
	cat.Tables[TableName{"public", "patients"}].Columns["birthdate"] = col("text", OIDText, -1)
	if err := p.CheckCatalog(cat); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCatalogProblems(t *testing.T) {
	p, err := Parse([]byte(`version: 1
tables:
  public.patients:
    subject_column: patient_id
    columns:
      SSN:      {mode: deterministic, key: ssn, type: text}
      nickname: {mode: randomized, key: pii, type: text}
      birthdate: {mode: randomized, key: pii, type: text}
      income:   {mode: randomized, key: pii, type: integer}
      expenses: {mode: randomized, key: pii, type: numeric}
      zip:      {mode: randomized, key: pii, type: text}
      city:     {mode: randomized, key: pii, type: varchar(40)}
      state:    {mode: randomized, key: pii, type: text}
      county:   {mode: randomized, key: pii, type: date}
      lat:      {mode: randomized, key: pii, type: text}
      mrn:      {mode: deterministic, key: mrn, type: varchar}
  public.patient:
    columns:
      x: {mode: randomized, key: pii, type: text}
  archive.patients:
    columns:
      ssn: {mode: deterministic, key: ssn, type: text}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	cat := Catalog{Tables: map[TableName]CatalogTable{
		{"public", "patients"}: {Columns: map[string]CatalogColumn{
			"id":        col("uuid", 2950, -1),
			"ssn":       col("text", OIDText, -1),
			"Nickname":  col("text", OIDText, -1),
			"birthdate": col("date", OIDDate, -1),
			"income":    col("integer", OIDInt4, -1),
			"expenses":  col("numeric(14,2)", OIDNumeric, 14<<16|2+4),
			"zip":       col("character varying(10)", OIDVarchar, 14),
			"city":      col("character varying(40)", OIDVarchar, 44),
			"state":     col("character(2)", 1042, 6),
			"county":    col("text", OIDText, -1),
			"lat":       col("double precision", 701, -1),
			"mrn":       col("character varying", OIDVarchar, -1),
		}},
		{"public", "Patient"}: {},
	}}
	err = p.CheckCatalog(cat)
	wants := []string{
		"tables[archive.patients]: table archive.patients does not exist in the database (did you mean public.patients?) (line 20)",
		`tables[public.patient]: table public.patient does not exist in the database (did you mean public."Patient"?) (line 17)`,
		"tables[public.patients].subject_column: column patient_id does not exist in table public.patients (line 4)",
		`tables[public.patients].columns[nickname]: column nickname does not exist in table public.patients (did you mean "Nickname"? quote a mixed-case name as in SQL) (line 7)`,
		"tables[public.patients].columns[birthdate].type: the column is date, which cannot hold encrypted cells, and the policy declares text, so the backfill would change the type clients see",
		"tables[public.patients].columns[expenses].type: the column is numeric(14,2) but the policy declares numeric; declare the same modifier so that clients keep seeing numeric(14,2)",
		"tables[public.patients].columns[zip].type: the column is character varying(10), which cannot hold encrypted cells, and the policy declares text",
		"tables[public.patients].columns[state].type: the column is character(2), which cannot hold encrypted cells",
		"tables[public.patients].columns[lat].type: the column is double precision, which cannot hold encrypted cells",
	}
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	// ssn (text), income (its own type: converted by the backfill), city
	// (varchar(40) declared as such), county (text already, declared date:
	// converted earlier) and mrn (unbounded varchar) pass.
	if ps := err.(Problems); len(ps) != len(wants) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(wants), err)
	}
}

func TestStorable(t *testing.T) {
	date, _ := ParseType("date")
	text, _ := ParseType("text")
	if msg := storable(date, col("character varying", OIDVarchar, -1)); !strings.Contains(msg, "only a text column") {
		t.Errorf("date in unbounded varchar: %q", msg)
	}
	if msg := storable(text, col("character varying", OIDVarchar, -1)); msg != "" {
		t.Errorf("text in unbounded varchar: %q", msg)
	}
}

// TestCheckCatalogSearchCollation: order and match terms of a text column
// under an ICU collation (its own, or the database's default) are a
// problem naming the column and the collation; equality terms, a libc
// collation and a column without search are not.
func TestCheckCatalogSearchCollation(t *testing.T) {
	p, err := Parse([]byte(`version: 1
tables:
  public.people:
    columns:
      last:  {mode: randomized, key: pii, type: text, search: [order, match], search_key_version: 1}
      first: {mode: randomized, key: pii, type: text, search: [match], search_key_version: 1}
      eq:    {mode: randomized, key: pii, type: text, search: [equality], search_key_version: 1}
      plain: {mode: randomized, key: pii, type: text}
      libc:  {mode: randomized, key: pii, type: text, search: [order, match], search_key_version: 1}
      born:  {mode: randomized, key: pii, type: date, search: [order], search_key_version: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	icu := func(name string) CatalogColumn {
		c := col("text", OIDText, -1)
		c.CollationProvider, c.Collation = "i", name
		return c
	}
	libc := col("text", OIDText, -1)
	libc.CollationProvider, libc.Collation = "c", "en_US"
	cat := Catalog{Tables: map[TableName]CatalogTable{{"public", "people"}: {Columns: map[string]CatalogColumn{
		"last": icu("und-x-icu"), "first": icu("default"), "eq": icu("und-x-icu"), "plain": icu("und-x-icu"),
		"libc": libc, "born": col("text", OIDText, -1),
	}}}}
	err = p.CheckCatalog(cat)
	wants := []string{
		`tables[public.people].columns[last].search: order and match terms are computed under libc collations only, and the column's collation "und-x-icu" is ICU: phiguard refuses every write of it`,
		`tables[public.people].columns[first].search: match terms are computed under libc collations only, and the column's collation "default" is ICU`,
	}
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if ps := err.(Problems); len(ps) != len(wants) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(wants), err)
	}
}
