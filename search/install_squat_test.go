package search_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/search"
)

// TestRedTeam14InstallInSquattedSchema: a role with CREATE on the
// database made the phiguard schema before install (install's CREATE
// SCHEMA IF NOT EXISTS then passed), opened it to PUBLIC and put a
// search_objects of its own there. Install went on into it: the schema's
// owner may drop and replace the term functions and the records the
// proxy trusts (whether a column's order terms are current) at will.
// Install now refuses a phiguard schema, or an object in it, owned by
// another role than the installing one or a superuser, naming it.
func TestRedTeam14InstallInSquattedSchema(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, ctx)
	for _, s := range []string{
		"CREATE ROLE squatter NOSUPERUSER",
		"GRANT CREATE ON DATABASE postgres TO squatter",
		"SET ROLE squatter",
		"CREATE SCHEMA phiguard",
		"GRANT USAGE, CREATE ON SCHEMA phiguard TO PUBLIC",
		"CREATE TABLE phiguard.records (table_name text, column_name text, kind text, object_name text, search_key_version bigint, collation_name text, collation_version text, built_at timestamptz DEFAULT now(), PRIMARY KEY (table_name, column_name, kind))",
		"CREATE VIEW phiguard.search_objects AS SELECT * FROM phiguard.records",
		"GRANT ALL ON phiguard.search_objects, phiguard.records TO PUBLIC",
		"RESET ROLE",
	} {
		if _, err := e.super.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	err := search.Install(ctx, e.owner, search.Options{Policy: e.pol})
	if err == nil || !strings.Contains(err.Error(), "squatter") {
		t.Fatalf("install into a schema squatter owns: %v, want a refusal naming the owner", err)
	}
	// The same schema handed to the installer, with squatter's view and
	// table left in it: still refused, naming the owner.
	if _, err := e.super.Exec(ctx, "ALTER SCHEMA phiguard OWNER TO app_owner"); err != nil {
		t.Fatal(err)
	}
	err = search.Install(ctx, e.owner, search.Options{Policy: e.pol})
	if err == nil || !strings.Contains(err.Error(), "squatter") || !strings.Contains(err.Error(), "relation phiguard.") {
		t.Fatalf("install beside squatter's view: %v, want a refusal naming it and its owner", err)
	}
	if _, err := e.super.Exec(ctx, "DROP VIEW phiguard.search_objects; DROP TABLE phiguard.records"); err != nil {
		t.Fatal(err)
	}
	if err := search.Install(ctx, e.owner, search.Options{Policy: e.pol}); err != nil {
		t.Fatalf("install into the installer's schema: %v", err)
	}
}
