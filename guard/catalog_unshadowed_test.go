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
		b.addNamedLike(namedLikeRow(row[0], row[1], row[2]))
	}
	cat := b.cat
	cat.namedAsked = map[string]bool{"tag": true, "name": true}
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
	other := &sqlrewrite.Plan{Unshadowed: []sqlrewrite.Unshadowed{{Name: "label", Inner: sqlrewrite.TableName{Name: "addresses"}, Column: col}}}
	if cat.unshadowedRefusal(other) == nil {
		t.Error("a name the catalog was not asked about: allowed")
	}
}

// TestTableHasColumn: the catalog is sure a table lacks a name no
// relation of its name has, sure it has one where the statement names
// the table with the schema the catalog lists it in, and not sure of
// an unqualified name when the search path was not read, of pg_temp,
// or of a name it was not asked about. A plan's Shadowed must still
// have its name (unshadowedRefusal).
func TestTableHasColumn(t *testing.T) {
	b := newCatalogBuilder(nil)
	for _, row := range [][3]string{{"public", "visits", "tag"}, {"pg_temp_3", "scratch", "tag"}} {
		b.addNamedLike(namedLikeRow(row[0], row[1], row[2]))
	}
	cat := b.cat
	cat.namedAsked = map[string]bool{"tag": true}
	for _, c := range []struct {
		schema, table, name string
		has, sure           bool
	}{
		{"public", "visits", "tag", true, true},
		{"other", "visits", "tag", false, true},
		{"", "addresses", "tag", false, true},
		{"", "visits", "tag", true, false}, // the path was not read
		{"pg_temp", "scratch", "tag", true, false},
		{"public", "visits", "label", false, false},
	} {
		has, sure := cat.TableHasColumn(sqlrewrite.TableName{Schema: c.schema, Name: c.table}, c.name)
		if has != c.has || sure != c.sure {
			t.Errorf("%s.%s has %s: %v, %v; want %v, %v", c.schema, c.table, c.name, has, sure, c.has, c.sure)
		}
	}
	col := &policy.ProtectedColumn{Name: "tag", Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "people"}}}
	shadowed := func(schema, table string) *sqlrewrite.Plan {
		return &sqlrewrite.Plan{Shadowed: []sqlrewrite.Unshadowed{{Name: "tag", Inner: sqlrewrite.TableName{Schema: schema, Name: table}, Column: col}}}
	}
	if pe := cat.unshadowedRefusal(shadowed("public", "visits")); pe != nil {
		t.Errorf("public.visits still has tag: %v", pe)
	}
	if pe := cat.unshadowedRefusal(shadowed("public", "addresses")); pe == nil || !strings.Contains(pe.Message, "no longer lists") {
		t.Errorf("public.addresses has no tag: %v", pe)
	}
}

// BenchmarkUnshadowedRefusal is the check each protected statement's plan
// gets before it is sent: here three q.f of a protected table of six
// columns and one inner table that must lack a name.
func BenchmarkUnshadowedRefusal(b *testing.B) {
	b.ReportAllocs()
	cat := newCatalogBuilder(nil).cat
	cat.namedAsked = map[string]bool{"tag": true}
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

// namedLikeRow is a row of namedLikeQuery for a column the system caches
// name as the read does.
func namedLikeRow(schema, table, column string) [][]byte {
	v := make([][]byte, 12)
	v[0], v[1], v[2] = []byte(schema), []byte(table), []byte(column)
	v[3], v[4], v[5] = v[0], v[1], v[2]
	if strings.HasPrefix(schema, "pg_temp_") {
		v[3] = []byte("pg_temp")
	}
	return v
}

// TestNamedLikeStale: a row whose column the system caches name
// otherwise (dropped, renamed, its table renamed or gone since the
// read's snapshot) leaves the catalog sure of no table's columns.
func TestNamedLikeStale(t *testing.T) {
	visits := sqlrewrite.TableName{Schema: "public", Name: "visits"}
	for _, c := range []struct {
		what  string
		now   [3]string
		stale bool
	}{
		{"the same", [3]string{"public", "visits", "tag"}, false},
		{"dropped", [3]string{"public", "visits", "........pg.dropped.2........"}, true},
		{"renamed", [3]string{"public", "visits", "label"}, true},
		{"table renamed", [3]string{"public", "visits_old", "tag"}, true},
		{"table moved", [3]string{"archive", "visits", "tag"}, true},
		{"gone", [3]string{}, true},
	} {
		b := newCatalogBuilder(nil)
		v := namedLikeRow("public", "visits", "tag")
		v[3], v[4], v[5] = []byte(c.now[0]), []byte(c.now[1]), []byte(c.now[2])
		if c.now[0] == "" {
			v[3], v[4], v[5] = nil, nil, nil
		}
		b.addNamedLike(v)
		b.cat.namedAsked = map[string]bool{"tag": true}
		has, sure := b.cat.TableHasColumn(visits, "tag")
		if want := !c.stale; has != want || sure != want {
			t.Errorf("%s: has %v sure %v, want both %v", c.what, has, sure, want)
		}
	}
	b := newCatalogBuilder(nil)
	b.addNamedLike(namedLikeRow("pg_temp_3", "scratch", "tag"))
	if b.cat.namedStale {
		t.Error("the session's own temporary table: stale")
	}
	// Read in a REPEATABLE READ transaction: not sure where an
	// unqualified name resolves; sure of a qualified one.
	b = newCatalogBuilder(nil)
	v := namedLikeRow("public", "visits", "tag")
	v[6] = []byte("repeatable read")
	b.addNamedLike(v)
	b.cat.namedAsked, b.cat.pathRead = map[string]bool{"tag": true}, true
	if has, sure := b.cat.TableHasColumn(sqlrewrite.TableName{Name: "visits"}, "tag"); !has || sure {
		t.Errorf("unqualified, in a snapshot: has %v sure %v, want has, not sure", has, sure)
	}
	if has, sure := b.cat.TableHasColumn(visits, "tag"); !has || !sure {
		t.Errorf("qualified, in a snapshot: has %v sure %v, want both", has, sure)
	}
}
