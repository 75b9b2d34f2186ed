package policy

import (
	"os"
	"strings"
	"testing"
)

// TestSearchModel: the search keys are read into the column, search_state
// defaults to building, and a column without search has none of them.
func TestSearchModel(t *testing.T) {
	p := mustLoad(t, "testdata/search.good.yml")
	col := func(table, name string) *ProtectedColumn {
		c, ok := p.Column("public", table, name)
		if !ok {
			t.Fatalf("no column %s.%s", table, name)
		}
		return c
	}
	for _, tc := range []struct {
		table, name string
		search      string
		version     uint32
		state       SearchState
	}{
		{"patients", "last", "order, match", 1, SearchReady},
		{"patients", "first", "order, match", 2, SearchBuilding}, // written [match, order]
		{"patients", "birthdate", "order", 1, SearchBuilding},
		{"patients", "ssn", "equality", 3, SearchRekeying},
		{"patients", "photo", "equality, order", 1, SearchBuilding},
		{"patients", "weight", "", 0, ""},
		{"encounters", "code", "", 0, ""},
		{"encounters", "patient_mrn", "order, match", 1, SearchBuilding},
	} {
		c := col(tc.table, tc.name)
		if c.Search.String() != tc.search || c.SearchKeyVersion != tc.version || c.SearchState != tc.state {
			t.Errorf("%s: search [%s] v%d %q, want [%s] v%d %q", c.QualifiedName(), c.Search, c.SearchKeyVersion, c.SearchState, tc.search, tc.version, tc.state)
		}
	}
	last := col("patients", "last")
	if !last.Search.Has(SearchOrder) || !last.Search.Has(SearchMatch) || last.Search.Has(SearchEquality) {
		t.Errorf("Has: %v", last.Search)
	}
}

// TestSearchTermMatrix pins the design's §3 table: which term each type
// and mode may have.
func TestSearchTermMatrix(t *testing.T) {
	// e: equality (randomized only), o: order, m: match.
	want := map[string]string{
		"text": "eom", "varchar": "eom", "char": "eom",
		"date": "eo", "timestamp": "eo", "timestamptz": "eo", "time": "eo",
		"integer": "eo", "bigint": "eo", "smallint": "eo", "numeric": "eo",
		"interval": "eo", "uuid": "eo", "boolean": "eo", "bytea": "eo",
		"real": "", "double precision": "", "timetz": "", "json": "", "jsonb": "",
		"text[]": "", "integer[]": "", "date[]": "",
	}
	names := append(TypeNames(), "text[]", "integer[]", "date[]")
	for _, name := range names {
		w, ok := want[name]
		if !ok {
			t.Errorf("type %s is not in this test's table", name)
			continue
		}
		typ, err := ParseType(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []Mode{ModeRandomized, ModeDeterministic} {
			for _, k := range []struct {
				kind SearchKind
				code string
			}{{SearchEquality, "e"}, {SearchOrder, "o"}, {SearchMatch, "m"}} {
				expect := strings.Contains(w, k.code) && !(k.kind == SearchEquality && m == ModeDeterministic)
				got := SearchTermAllowed(typ, m, k.kind)
				if got != expect {
					t.Errorf("%s %s %s: allowed %v, want %v", name, m, k.kind, got, expect)
				}
				// SearchTermAllowed and the validation's message are one rule.
				if refused := searchRefusal(&ProtectedColumn{Type: typ, Mode: m}, k.kind) != ""; refused == got {
					t.Errorf("%s %s %s: allowed %v but searchRefusal refused %v", name, m, k.kind, got, refused)
				}
			}
		}
	}
}

// TestOlderReaderRefusesSearch: a phiguard that predates the search keys
// refuses a policy that uses them (an unknown key fails Load), rather
// than ignoring them; this reader is given the column keys it had
// before. (Checked by hand as well against main's phiguard check; see
// docs/policy.md.)
func TestOlderReaderRefusesSearch(t *testing.T) {
	saved := columnKeys
	columnKeys = []string{"mode", "key", "type", "state"}
	defer func() { columnKeys = saved }()
	raw, err := os.ReadFile("testdata/search.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(raw)
	if err == nil {
		t.Fatal("an older reader accepts search")
	}
	for _, key := range []string{"search", "search_key_version", "search_state"} {
		if !strings.Contains(err.Error(), "columns[last]."+key+": unknown key") {
			t.Errorf("no unknown-key problem for %s:\n%v", key, err)
		}
	}
}
