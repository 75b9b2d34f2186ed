package guard

import (
	"testing"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestFunctionHasColumn: a function the catalog lists for a name, or for
// any name (a NULL column: a polymorphic result), or that returns the row
// of a relation or composite type listed with the name, may have it; one
// it does not list surely lacks it; nothing is sure of a name not asked.
func TestFunctionHasColumn(t *testing.T) {
	b := newCatalogBuilder(nil)
	out := namedLikeRow("public", "visits_of", "tag")
	out[7] = []byte("function")
	anyName := namedLikeRow("pg_catalog", "unnest", "")
	anyName[2], anyName[5], anyName[7] = nil, nil, []byte("function")
	b.addNamedLike(out)
	b.addNamedLike(anyName)
	b.addNamedLike(namedLikeRow("public", "generate_series", "tag")) // a table of that name
	b.addNamedLike(namedLikeRow("s", "visit_row", "tag"))            // a composite type
	for _, rel := range [][2]string{{"s", "visit_row"}, {"public", "generate_series"}} {
		returns := namedLikeRow("s", "rows_of_"+rel[1], "")
		returns[2], returns[5], returns[7], returns[8], returns[9] = nil, nil, []byte("returns"), []byte(rel[0]), []byte(rel[1])
		b.addNamedLike(returns)
	}
	plain := namedLikeRow("s", "rows_of_plain", "")
	plain[2], plain[5], plain[7], plain[8], plain[9] = nil, nil, []byte("returns"), []byte("s"), []byte("plain")
	b.addNamedLike(plain)
	cat := b.cat
	cat.namedAsked = map[string]bool{"tag": true}
	if cat.namedStale {
		t.Fatal("a function's row marked the read stale")
	}
	for _, c := range []struct {
		schema, fn, name string
		has, sure        bool
	}{
		{"", "visits_of", "tag", false, false},
		{"public", "visits_of", "tag", false, false},
		{"other", "visits_of", "tag", false, true},
		{"", "unnest", "tag", false, false},
		{"", "generate_series", "tag", false, true},
		{"", "generate_series", "label", false, false}, // not asked
		{"", "rows_of_visit_row", "tag", false, false}, // returns a row with tag
		{"s", "rows_of_generate_series", "tag", false, false},
		{"other", "rows_of_visit_row", "tag", false, true},
		{"", "rows_of_plain", "tag", false, true}, // returns a row without
	} {
		has, sure := cat.TableHasColumn(sqlrewrite.TableName{Schema: c.schema, Name: c.fn, Function: true}, c.name)
		if has != c.has || sure != c.sure {
			t.Errorf("%s.%s() has %s: %v, %v; want %v, %v", c.schema, c.fn, c.name, has, sure, c.has, c.sure)
		}
	}
	if has, sure := cat.TableHasColumn(sqlrewrite.TableName{Name: "visits_of"}, "tag"); has || !sure {
		t.Errorf("the table visits_of: %v, %v; want surely lacks (the row was a function's)", has, sure)
	}
}
