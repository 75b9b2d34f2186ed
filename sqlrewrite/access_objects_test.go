package sqlrewrite

import (
	"sort"
	"strings"
)

// fakeObjects is a scripted catalog for unit tests; the tests that run the
// rewrites against PostgreSQL read the real one.
type fakeObjects struct {
	tables map[string][]string // "schema.name" -> columns
	types  map[string]string   // "schema.name.column" -> type
	views  map[string]bool
}

func newFakeObjects() *fakeObjects {
	return &fakeObjects{
		tables: map[string][]string{
			"public.patients":   {"id", "ssn", "first", "city"},
			"public.care_teams": {"clinician", "patient"},
			"public.notes":      {"id", "patient", "body"},
			"public.providers":  {"id", "name"},
			// The catalog tables the statistics rules name.
			"pg_catalog.pg_class":     {"oid", "relname", "relnamespace", "relkind", "relpages", "reltuples", "relallvisible"},
			"pg_catalog.pg_statistic": {"starelid", "staattnum", "stanullfrac"},
			"pg_catalog.pg_namespace": {"oid", "nspname"},
		},
		types: map[string]string{
			"public.patients.id": "uuid", "public.patients.city": "text",
			"public.notes.id": "integer", "public.notes.patient": "uuid", "public.notes.body": "text",
		},
		views: map[string]bool{"public.patient_view": true, "pg_catalog.pg_stats": true},
	}
}

func (f *fakeObjects) key(schema, name string) string {
	if schema == "" {
		schema = "public"
		if strings.HasPrefix(name, "pg_") {
			schema = "pg_catalog"
		}
	}
	return schema + "." + name
}

func (f *fakeObjects) RelationKind(schema, name string) RelationKind {
	k := f.key(schema, name)
	if f.views[k] {
		return RelationOther
	}
	if _, ok := f.tables[k]; ok {
		return RelationTable
	}
	return RelationUnknown
}

func (f *fakeObjects) Columns(schema, name string) ([]string, bool) {
	c, ok := f.tables[f.key(schema, name)]
	return c, ok
}

func (f *fakeObjects) ColumnType(schema, table, column string) (string, bool) {
	t, ok := f.types[f.key(schema, table)+"."+column]
	return t, ok
}

func (f *fakeObjects) RelationSchemas(name string) []string {
	var out []string
	for k := range f.tables {
		if schema, rel, _ := strings.Cut(k, "."); rel == name {
			out = append(out, schema)
		}
	}
	for k := range f.views {
		if schema, rel, _ := strings.Cut(k, "."); rel == name {
			out = append(out, schema)
		}
	}
	sort.Strings(out)
	return out
}

var unsafeFunctions = map[string]bool{"pg_read_file": true, "query_to_xml": true, "set_config": true, "lo_import": true, "dblink": true}

func (f *fakeObjects) FunctionSafe(schema, name string) bool {
	return !unsafeFunctions[name] && name != "my_func"
}
func (f *fakeObjects) OperatorSafe(schema, name string) bool { return name != "===" }
func (f *fakeObjects) Version() string                       { return "fake" }
