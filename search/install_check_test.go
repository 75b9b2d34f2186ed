package search_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
)

// TestRedTeam13InstallCheckOfAnotherText: install found its terms-present
// CHECK by name only. A constraint already named phiguard_last_terms with
// another expression (CHECK (true), left by a mistake or by someone who
// may alter the table) was reported "exists and is validated" and
// recorded as phiguard's, so the column was taken as guarded while a
// format-1 cell or plaintext written around phiguard went in: the
// guarantee `search_state: ready` rests on (every cell has terms; the
// equality of a deterministic column then looks for format-2 cells only)
// did not hold. Now install compares the existing constraint's
// definition with its own and refuses, naming the column and constraint.
func TestRedTeam13InstallCheckOfAnotherText(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, ctx)
	for _, def := range []string{
		"CHECK (true) NOT VALID",
		"CHECK (last IS NULL OR length(last) > 0)",
		"CHECK (last IS NULL OR pg_catalog.left(last, 4) OPERATOR(pg_catalog.=) '~phs')",
	} {
		if _, err := e.owner.Exec(ctx, "ALTER TABLE people ADD CONSTRAINT phiguard_last_terms "+def); err != nil {
			t.Fatal(err)
		}
		err := search.Install(ctx, e.owner, search.Options{Policy: e.pol, Check: true})
		if err == nil || !strings.Contains(err.Error(), "public.people.last") || !strings.Contains(err.Error(), "phiguard_last_terms") {
			t.Errorf("install over %s: %v, want a refusal naming the column and constraint", def, err)
		}
		if _, err := e.owner.Exec(ctx, "ALTER TABLE people DROP CONSTRAINT phiguard_last_terms"); err != nil {
			t.Fatal(err)
		}
	}
	// phiguard's own CHECK, added NOT VALID by an interrupted install, is
	// recognised and validated; a second install leaves it.
	if _, err := e.owner.Exec(ctx, "ALTER TABLE people ADD CONSTRAINT phiguard_last_terms CHECK ("+search.CheckExpr(lastColumn(t, e))+") NOT VALID"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := search.Install(ctx, e.owner, search.Options{Policy: e.pol, Check: true}); err != nil {
			t.Fatalf("install over phiguard's own CHECK: %v", err)
		}
	}
	_, err := e.super.Exec(ctx, "INSERT INTO people VALUES (40, $1, NULL)", e.v1(t, "last", "Smith"))
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "23514" {
		t.Errorf("a format-1 cell written around phiguard: %v, want a check violation", err)
	}
}

// lastColumn is the policy's public.people.last.
func lastColumn(t *testing.T, e *env) *policy.ProtectedColumn {
	t.Helper()
	col, ok := e.pol.Column("public", "people", "last")
	if !ok {
		t.Fatal("no public.people.last in the policy")
	}
	return col
}

// TestRedTeam13InstallFunctionOfAnotherBody: install found its extraction
// functions by name only. A phiguard.term_ord_v1(text) made before it
// with another body (here RETURN CAST(NULL AS bytea)) was left in place ("exists"), the
// order index was built on it, and every query through order terms
// compared NULL: the database dropped every row before phiguard's
// re-check (a wrong answer, no error). Now install refuses naming the
// function; the real functions are accepted on a second install.
func TestRedTeam13InstallFunctionOfAnotherBody(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, ctx)
	for _, s := range []string{
		"CREATE SCHEMA phiguard",
		"CREATE FUNCTION phiguard.term_ord_v1(c text) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN CAST(NULL AS bytea)",
	} {
		if _, err := e.owner.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	err := search.Install(ctx, e.owner, search.Options{Policy: e.pol})
	if err == nil || !strings.Contains(err.Error(), "phiguard.term_ord_v1") {
		t.Fatalf("install over another term_ord_v1: %v, want a refusal naming it", err)
	}
	if _, err := e.owner.Exec(ctx, "DROP FUNCTION phiguard.term_ord_v1(text)"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := search.Install(ctx, e.owner, search.Options{Policy: e.pol}); err != nil {
			t.Fatalf("install: %v", err)
		}
	}
}
