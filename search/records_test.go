package search_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/policy/pgcatalog"
	"github.com/phiguard/phiguard/search"
)

// TestCheckCatalogTermsBuild: `phiguard check --catalog` reads what
// install recorded of the collation each kind of terms was built under,
// and reports a ready column whose record is another collation or
// version than the database's now, or missing, or unreadable (design
// §5.1, §7.2): the proxy would search it without those terms. A
// rekeying column's match record counts, its order record not (order
// terms are not used while rekeying).
func TestCheckCatalogTermsBuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, ctx)
	if err := search.Install(ctx, e.owner, search.Options{Policy: e.pol}); err != nil {
		t.Fatal(err)
	}
	ready := mustParse(t, `
version: 1
tables:
  public.people:
    columns:
      last:  {mode: randomized, key: k-pii, type: text, state: encrypted, search: [order, match], search_key_version: 1, search_state: ready}
`)
	// While rekeying only the match terms are used (a literal pattern's,
	// under every version), so only their record counts.
	rekeying := mustParse(t, `
version: 1
tables:
  public.people:
    columns:
      last:  {mode: randomized, key: k-pii, type: text, state: encrypted, search: [order, match], search_key_version: 2, search_state: rekeying}
`)
	problemsOf := func(pol *policy.Policy) string {
		t.Helper()
		cat, err := pgcatalog.Read(ctx, e.owner, "public")
		if err != nil {
			t.Fatal(err)
		}
		if err := pol.CheckCatalog(cat); err != nil {
			return err.Error()
		}
		return ""
	}
	problems := func() string { return problemsOf(ready) }
	cat, err := pgcatalog.Read(ctx, e.owner, "public")
	if err != nil {
		t.Fatal(err)
	}
	last := cat.Tables[policy.TableName{Schema: "public", Name: "people"}].Columns["last"]
	if !cat.SearchRecords || last.TermsBuiltUnder["o"] != (policy.TermsBuild{Collation: "C"}) || last.CollateLocale != "C" {
		t.Fatalf("read %v: last %+v, want order terms recorded under C", cat.SearchRecords, last)
	}
	if p := problems(); p != "" {
		t.Fatalf("as installed: %s", p)
	}
	for _, c := range []struct{ sql, want, wantRekeying string }{
		{"UPDATE phiguard.search_objects SET collation_version = '9.99' WHERE column_name = 'last' AND kind = 'o'",
			`order terms were built under "C" version 9.99, the database reports "C" (no version) now`, ""},
		{"UPDATE phiguard.search_objects SET collation_version = NULL, collation_name = 'en_US.utf8' WHERE column_name = 'last' AND kind = 'o'",
			`order terms were built under "en_US.utf8" (no version)`, ""},
		{"UPDATE phiguard.search_objects SET collation_name = 'C' WHERE column_name = 'last' AND kind = 'o'", "", ""},
		{"DELETE FROM phiguard.search_objects WHERE column_name = 'last' AND kind = 'm'",
			"ready, but phiguard.search_objects holds no record of the column's match terms: run phiguard search install",
			"rekeying, but phiguard.search_objects holds no record of the column's match terms"},
		{"DROP TABLE phiguard.search_objects", "phiguard.search_objects cannot be read", "rekeying, but phiguard.search_objects cannot be read"},
	} {
		if _, err := e.super.Exec(ctx, c.sql); err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			pol  *policy.Policy
			want string
		}{{ready, c.want}, {rekeying, c.wantRekeying}} {
			p := problemsOf(w.pol)
			if w.want == "" && p != "" || w.want != "" && !strings.Contains(p, w.want) {
				t.Errorf("after %s (%s):\n%s\nwant %q", c.sql, w.pol.Tables()[0].Columns[0].SearchState, p, w.want)
			}
		}
	}
}
