package guard

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestUnshadowedRefusal: a plan's unqualified name taken for an outer
// encrypted column is refused when the inner table, as the statement
// names it (any schema unqualified), has a column of that name, or when
// no catalog was read; allowed when the catalog lists none.
func TestUnshadowedRefusal(t *testing.T) {
	b := newCatalogBuilder(nil)
	for _, row := range [][3]string{{"public", "visits", "tag"}, {"archive", "notes", "tag"}, {"public", "notes", "name"}} {
		v := make([][]byte, 12)
		v[0], v[1], v[2] = []byte(row[0]), []byte(row[1]), []byte(row[2])
		b.addNamedLike(v)
	}
	cat := b.cat
	col := &policy.ProtectedColumn{Name: "tag", Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "people"}}}
	plan := func(schema, table string) *sqlrewrite.Plan {
		return &sqlrewrite.Plan{Unshadowed: []sqlrewrite.Unshadowed{{Name: "tag", Inner: sqlrewrite.TableName{Schema: schema, Name: table}, Column: col}}}
	}
	for _, c := range []struct {
		schema, table string
		refused       bool
	}{
		{"", "visits", true}, {"public", "visits", true}, {"other", "visits", false},
		{"", "notes", true}, {"public", "notes", false}, {"archive", "notes", true}, {"", "addresses", false},
	} {
		pe := cat.unshadowedRefusal(plan(c.schema, c.table))
		if (pe != nil) != c.refused {
			t.Errorf("%s.%s: refusal %v, want refused %v", c.schema, c.table, pe, c.refused)
		}
		if pe != nil && (pe.Code != "0A000" || !strings.Contains(pe.Message, c.table) || !strings.Contains(pe.Message, "public.people.tag")) {
			t.Errorf("%s.%s: %s %s", c.schema, c.table, pe.Code, pe.Message)
		}
	}
	if (*catalog)(nil).unshadowedRefusal(plan("", "addresses")) == nil {
		t.Error("no catalog: allowed")
	}
	if cat.unshadowedRefusal(&sqlrewrite.Plan{}) != nil {
		t.Error("no Unshadowed: refused")
	}
}

// BenchmarkUnshadowedRefusal is the check each protected statement's plan
// gets before it is sent: here three q.f of a protected table of six
// columns and one inner table that must lack a name.
func BenchmarkUnshadowedRefusal(b *testing.B) {
	b.ReportAllocs()
	cat := newCatalogBuilder(nil).cat
	tn := policy.TableName{Schema: "public", Name: "people"}
	for _, n := range []string{"id", "name", "born", "score", "tag", "grp"} {
		cat.tables[tn] = append(cat.tables[tn], catalogColumn{name: n})
	}
	col := &policy.ProtectedColumn{Name: "tag", Table: &policy.ProtectedTable{Name: tn}}
	plan := &sqlrewrite.Plan{
		Notation:   []sqlrewrite.Notation{{Qualifier: "p", Table: tn, Column: "id"}, {Qualifier: "p", Table: tn, Column: "grp"}, {Qualifier: "p", Table: tn, Column: "score"}},
		Unshadowed: []sqlrewrite.Unshadowed{{Name: "tag", Inner: sqlrewrite.TableName{Name: "visits"}, Column: col}},
	}
	for i := 0; i < b.N; i++ {
		if cat.unshadowedRefusal(plan) != nil {
			b.Fatal("refused")
		}
	}
}
