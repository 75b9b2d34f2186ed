package ehrdemo

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// schemaTable is what the tests read back from schema.sql.
type schemaTable struct {
	columns   []string // in declaration order
	generated []string // identity columns, which no CSV fills
	refs      []string // tables named by REFERENCES
}

var (
	createTable = regexp.MustCompile(`(?ms)^CREATE TABLE public\.(\w+) \((.*?)^\);`)
	references  = regexp.MustCompile(`REFERENCES public\.(\w+)`)
)

// parseSchema reads schema.sql under its own stated convention: one column
// definition per line. It is not an SQL parser; the integration test, which
// runs the file in PostgreSQL, catches what this reading would miss.
func parseSchema(t *testing.T) map[string]*schemaTable {
	t.Helper()
	out := map[string]*schemaTable{}
	for _, m := range createTable.FindAllStringSubmatch(schemaSQL, -1) {
		st := &schemaTable{}
		for _, line := range strings.Split(m[2], "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "--") {
				continue
			}
			first := strings.ToUpper(strings.Fields(line)[0])
			switch first {
			case "CONSTRAINT", "PRIMARY", "FOREIGN", "UNIQUE", "CHECK", "EXCLUDE":
				t.Fatalf("table %s: table constraint %q: declare constraints on the column's line", m[1], line)
			}
			name := strings.Fields(line)[0]
			st.columns = append(st.columns, name)
			if strings.Contains(line, "GENERATED") {
				st.generated = append(st.generated, name)
			}
			for _, r := range references.FindAllStringSubmatch(line, -1) {
				st.refs = append(st.refs, r[1])
			}
		}
		if _, dup := out[m[1]]; dup {
			t.Fatalf("table %s created twice", m[1])
		}
		out[m[1]] = st
	}
	if len(out) == 0 {
		t.Fatal("no CREATE TABLE found in schema.sql")
	}
	return out
}

func TestTablesMatchEmbeddedFiles(t *testing.T) {
	files, err := fs.Glob(dataFS, "data/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	var fromFiles []string
	for _, f := range files {
		fromFiles = append(fromFiles, strings.TrimSuffix(strings.TrimPrefix(f, "data/"), ".csv"))
	}
	got := slices.Sorted(slices.Values(Tables()))
	if !slices.Equal(got, fromFiles) {
		t.Errorf("Tables() = %v, embedded CSV files = %v", got, fromFiles)
	}

	schema := parseSchema(t)
	var fromSchema []string
	for name := range schema {
		fromSchema = append(fromSchema, name)
	}
	slices.Sort(fromSchema)
	if !slices.Equal(got, fromSchema) {
		t.Errorf("Tables() = %v, schema.sql creates %v", got, fromSchema)
	}
}

// Every CSV header, lower-cased, must be exactly its table's columns in
// order, apart from identity columns that the database fills itself.
func TestHeadersMatchSchema(t *testing.T) {
	schema := parseSchema(t)
	for _, table := range Tables() {
		st, ok := schema[table]
		if !ok {
			t.Errorf("%s: not in schema.sql", table)
			continue
		}
		header, err := Columns(table)
		if err != nil {
			t.Errorf("%s: %v", table, err)
			continue
		}
		var want []string
		for _, c := range st.columns {
			if !slices.Contains(st.generated, c) {
				want = append(want, c)
			}
		}
		if !slices.Equal(header, want) {
			t.Errorf("%s: CSV header %v\n  schema.sql columns (without generated %v) %v", table, header, st.generated, want)
		}
		// A table without a Synthea Id still needs a key.
		if !slices.Contains(st.columns, "id") {
			t.Errorf("%s: no id column", table)
		}
	}
}

func TestLoadOrderRespectsForeignKeys(t *testing.T) {
	schema := parseSchema(t)
	order := Tables()
	for i, table := range order {
		for _, ref := range schema[table].refs {
			j := slices.Index(order, ref)
			if j < 0 || j >= i {
				t.Errorf("%s references %s, which Tables() does not load before it", table, ref)
			}
		}
	}
}

func TestCSVUnknownTable(t *testing.T) {
	if _, err := CSV("procedures"); err == nil {
		t.Error("CSV(procedures) succeeded; the sample leaves procedures out")
	}
	if _, err := CSV("../schema.sql"); err == nil {
		t.Error("CSV accepted a path")
	}
}
