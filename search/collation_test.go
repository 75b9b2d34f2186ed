package search

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// TestLocaleRule: the locale a column's terms are computed under is the
// one the proxy's writes use (guard/protect_terms.go): LC_COLLATE for a
// column with an order term, LC_CTYPE for one with a match term only,
// and a column with both refused when they differ.
func TestLocaleRule(t *testing.T) {
	col := func(kinds ...policy.SearchKind) *policy.ProtectedColumn {
		var set policy.SearchKinds
		for _, k := range kinds {
			set |= policy.SearchKinds(k)
		}
		return &policy.ProtectedColumn{Name: "last", Type: policy.LogicalType{OID: policy.OIDText}, Search: set,
			Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "people"}}}
	}
	mixed := Collation{Name: "mixed", Provider: "c", Collate: "C", Ctype: "POSIX", Deterministic: true}
	for _, c := range []struct {
		col     *policy.ProtectedColumn
		locale  string
		refused string
	}{
		{col(policy.SearchOrder), "C", ""},
		{col(policy.SearchMatch), "POSIX", ""},
		{col(policy.SearchEquality, policy.SearchOrder), "C", ""},
		{col(policy.SearchOrder, policy.SearchMatch), "C", "LC_COLLATE C and LC_CTYPE POSIX differ"},
	} {
		if got := mixed.TermLocale(c.col); got != c.locale {
			t.Errorf("%v: TermLocale %q, want %q", c.col.Search, got, c.locale)
		}
		loc, err := mixed.Locale(c.col)
		switch {
		case c.refused == "" && (err != nil || loc != nil):
			t.Errorf("%v: Locale %v, %v; want the bytewise nil", c.col.Search, loc, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("%v: Locale error %v, want one saying %q", c.col.Search, err, c.refused)
		}
	}
}
