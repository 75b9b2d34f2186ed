package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/internal/race"
)

func mustLoad(t *testing.T, path string) *Policy {
	t.Helper()
	p, err := Load(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

func TestGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yml")
	if len(files) < 3 {
		t.Fatalf("found %d good files", len(files))
	}
	for _, f := range files {
		mustLoad(t, f)
	}
}

// TestExampleIsTheTestedFile keeps examples/policy.yml, the file docs/policy.md
// walks through, identical to the one the tests load.
func TestExampleIsTheTestedFile(t *testing.T) {
	a, err1 := os.ReadFile("testdata/synthea.good.yml")
	b, err2 := os.ReadFile("../examples/policy.yml")
	if err1 != nil || err2 != nil || string(a) != string(b) {
		t.Fatalf("examples/policy.yml and policy/testdata/synthea.good.yml differ (%v, %v)", err1, err2)
	}
}

// TestBadFiles checks each bad file fails with every expected problem, each
// tied to its key path (and line), all reported at once.
func TestBadFiles(t *testing.T) {
	want := map[string][]string{
		"syntax.bad.yml": {"parse policy: yaml: line 4"},
		"unknown-key.bad.yml": {
			"tables[public.patients].colums: unknown key (known keys here: subject_column, state, columns) (line 4)",
			"tables[public.providers].columns[name].mask: unknown key (known keys here: mode, key, type, state, search, search_key_version, search_state) (line 8)",
		},
		"wrong-shape.bad.yml": {
			"tables[public.patients].columns: must be a map of column names to column settings, got a list (line 5)",
			`tables[public.providers].columns[name]: must be a map of column settings, got "randomized" (line 9)`,
		},
		"no-version.bad.yml": {"version: is required (write version: 1)"},
		"version.bad.yml":    {"version: format version 2 is not supported (this phiguard reads version 1) (line 1)"},
		"roles.bad.yml": {
			`default_role: names no role of this file: "nobody"`,
			`roles.clinician.statements: unknown statement class "wirte"`,
			`roles.clinician.other_columns: unknown action "masked" (want plaintext, null or deny)`,
			`roles.clinician.break_glass: must be true or false`,
			`roles.clinician.columns[patients.ssn].masked: pattern "***-{last4" has an unclosed {`,
			`roles.clinician.columns[patients.first]: unknown action "sometimes"`,
			`roles.clinician.columns[ssn]: bad column name: write table.column or schema.table.column`,
			`roles.clinician.columns[patients.last]: masked needs a pattern`,
			// Load has no SQL parser: every row rule is refused unread
			// (sqlrewrite.TestRowExpressionProblems reads them).
			`roles.clinician.rows[patients]: using: this policy was loaded without a SQL parser for row rules`,
			`roles.clinician.rows[encounters]: using: this policy was loaded without a SQL parser for row rules`,
			`roles.clinician.rows[claims]: using: this policy was loaded without a SQL parser for row rules`,
			`roles.billing.rows[patients]: using: this policy was loaded without a SQL parser for row rules`,
			`roles.billing.rows[patients].unchecked_writes: unknown value "maybe"`,
			`roles.clinician.users: user "dr_smith" is already bound to role billing`,
		},
		"unknown-mode.bad.yml": {
			`tables[public.patients].columns[ssn].mode: unknown mode "determinstic" (want deterministic or randomized) (line 5)`,
			`tables[public.patients].columns[first].mode: unknown mode "plaintext"`,
		},
		"missing-key.bad.yml": {
			"tables[public.patients].columns[ssn].key: is required",
			"tables[public.patients].columns[first].mode: is required",
			"tables[public.patients].columns[last].type: is required",
			"tables[public.patients].columns[maiden]: has no settings; give at least mode, key and type (line 8)",
		},
		"unknown-type.bad.yml": {
			`tables[public.patients].columns[id].type: unknown type "uuidx" (want one of text, varchar, date, timestamp, timestamptz, integer, bigint, smallint, numeric, boolean, uuid, char, real, double precision, time, timetz, interval, bytea, json, jsonb) (line 5)`,
			`tables[public.patients].columns[lat].type: type "float(10)": double precision takes no modifier`,
			`tables[public.patients].columns[zip].type: type "varchar(0)": length must be between 1 and 10485760`,
			`tables[public.patients].columns[income].type: type "integer(4)": integer takes no modifier`,
		},
		"duplicate-column.bad.yml": {
			"tables[public.patients].columns[SSN]: names the same column as tables[public.patients].columns[ssn] on line 5 (ssn) (line 6)",
			`tables[public.patients].columns["ssn"]: names the same column as tables[public.patients].columns[ssn] on line 5`,
		},
		"duplicate-table.bad.yml": {
			"tables[Patients]: names the same table as tables[public.patients] on line 3 (public.patients) (line 6)",
		},
		"bad-identifier.bad.yml": {
			`tables[public.pat-ients]: bad table name: "public.pat-ients" is not a valid identifier: unexpected "-"`,
			`tables[ehr.public.patients]: bad table name: "ehr.public.patients" has 3 dotted parts; write table or schema.table`,
			`tables["unterminated.patients]: bad table name: "\"unterminated.patients" has an unterminated quoted identifier`,
			`tables[public.providers].subject_column: bad column name: "1patient" is not a valid identifier`,
			`tables[public.providers].columns[2fa]: bad column name`,
			`tables[public.providers].columns[public.providers.name]: bad column name: "public.providers.name" is a qualified name; write the column name alone`,
			`is longer than PostgreSQL's 63-byte identifier limit (line 17)`,
		},
		"subject-protected.bad.yml": {
			"tables[public.patients].subject_column: column id is itself protected (tables[public.patients].columns[id], line 6)",
		},
		"key-two-modes.bad.yml": {
			`tables[public.patients].columns[first].key: key "shared" is randomized here but deterministic for public.patients.ssn (line 5); give each mode its own key (line 6)`,
			`tables[public.patients].columns[last].key: key id "vault/../escape": use letters, digits`,
		},
		"reserved-key.bad.yml": {
			`tables[public.patients].columns[first].key: key id "subjects" is reserved for crypto-shredding's subject keys (line 6)`,
			`tables[public.patients].columns[last].key: key id "subj.0123456789abcdef0123456789abcdef" is reserved`,
		},
		"bad-state.bad.yml": {
			`tables[public.patients].state: unknown state "done" (want encrypting or encrypted) (line 4)`,
			`tables[public.patients].columns[ssn].state: unknown state "plaintext"`,
		},
		"empty-table.bad.yml": {"tables[public.patients]: names no protected column and no subject column (line 3)"},
		"search.bad.yml": {
			`tables[public.patients].columns[last].search: unknown search term "equal" (want equality, order or match) (line 5)`,
			`tables[public.patients].columns[first].search: lists match twice (line 6)`,
			`tables[public.patients].columns[maiden].search: is empty; leave the key out when the column has no search terms (line 7)`,
			`tables[public.patients].columns[address].search_key_version: is required with search (the version of key "pii" the terms derive from) (line 8)`,
			`tables[public.patients].columns[city].search_key_version: must be a key version, a whole number from 1 (the version of the column's key the terms derive from), got "0" (line 9)`,
			`tables[public.patients].columns[zip].search_key_version: must be a key version, a whole number from 1`,
			`tables[public.patients].columns[phone].search_key_version: must be a key version, a whole number from 1 (the version of the column's key the terms derive from), got "4294967296" (line 11)`,
			`tables[public.patients].columns[email].search_key_version: is set but the column has no search list (line 12)`,
			`tables[public.patients].columns[notes].search_state: is set but the column has no search list (line 13)`,
		},
		"search-shape.bad.yml": {
			`tables[public.patients].columns[last].search: must be a list of search terms, e.g. [order, match], got "order" (line 5)`,
			`tables[public.patients].columns[first].search: must be a list of search terms, got an item that is a list (line 6)`,
		},
		"search-types.bad.yml": {
			`tables[public.patients].columns[ssn].search: equality: a deterministic column has no equality term; its cells already are one (=, IN and joins compare them) (line 5)`,
			`tables[public.patients].columns[weight].search: order: type real can have no search term (WHERE and ORDER BY on it are refused as well) (line 6)`,
			`tables[public.patients].columns[height].search: equality: type double precision can have no search term`,
			`tables[public.patients].columns[wake].search: order: type timetz can have no search term`,
			`tables[public.patients].columns[doc].search: equality: type jsonb can have no search term`,
			`tables[public.patients].columns[raw].search: order: type json can have no search term`,
			`tables[public.patients].columns[aliases].search: match: type text[] can have no search term`,
			`tables[public.patients].columns[birthdate].search: match: type date has no match term (LIKE and ILIKE are for text, varchar and char) (line 12)`,
			`tables[public.patients].columns[photo].search: match: type bytea has no match term`,
			`tables[public.patients].columns[age].search: match: type integer has no match term`,
		},
		"search-state.bad.yml": {
			`tables[public.patients].columns[first].search_state: rekeying needs state: encrypted (a legacy plaintext row carries no term, so a search through terms would miss it) (line 7)`,
			`tables[public.patients].columns[maiden].search_state: unknown search state "done" (want building, ready or rekeying) (line 8)`,
			`tables[public.patients].columns[birthdate].search_state: ready needs state: encrypted (a legacy plaintext row carries no term, so a search through terms would miss it) (line 10)`,
		},
		"search-deterministic.bad.yml": {
			`tables[public.encounters].columns[patient_mrn].search: columns sharing deterministic key "mrn" must have the same search and search_key_version (equal values must keep equal cells): public.encounters.patient_mrn has search [order] version 1 here, public.patients.mrn has search [order, match] version 1 (line 5) (line 8)`,
			`tables[public.encounters].columns[other_mrn].search: columns sharing deterministic key "mrn" must have the same search and search_key_version (equal values must keep equal cells): public.encounters.other_mrn has search [order, match] version 2 here`,
			`tables[public.encounters].columns[copied_mrn].search: columns sharing deterministic key "mrn" must have the same search and search_key_version (equal values must keep equal cells): public.encounters.copied_mrn has no search here`,
		},
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	for _, f := range files {
		if _, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected problems in this test", f)
		}
	}
	for file, wants := range want {
		p, err := Load(filepath.Join("testdata", file))
		if err == nil {
			err = p.Validate()
		}
		if err == nil {
			t.Errorf("%s: accepted", file)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", file, w, err)
			}
		}
		if ps, ok := err.(Problems); ok && len(ps) != len(wants) {
			t.Errorf("%s: %d problems, want %d:\n%v", file, len(ps), len(wants), err)
		}
	}
}

func TestRepeatedYAMLKey(t *testing.T) {
	_, err := Parse([]byte("version: 1\ntables:\n  patients:\n    columns:\n      ssn: {mode: deterministic, key: a, type: text}\n      ssn: {mode: deterministic, key: a, type: text}\n"))
	if err == nil || !strings.Contains(err.Error(), "tables[patients].columns.ssn: repeated; first given on line 5 (line 6)") {
		t.Fatalf("got %v", err)
	}
}

func TestSyntheaModel(t *testing.T) {
	p := mustLoad(t, "testdata/synthea.good.yml")
	pt, ok := p.Table("public", "patients")
	if !ok || pt.SubjectColumn != "id" || pt.State != StateEncrypting {
		t.Fatalf("patients: %+v %v", pt, ok)
	}
	var names []string
	for _, c := range pt.Columns {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "ssn,passport,drivers,first,last,maiden,address,birthdate" {
		t.Errorf("columns not in file order: %s", got)
	}
	ssn, _ := p.Column("public", "patients", "ssn")
	if ssn.Mode != ModeDeterministic || ssn.Key != "patients-ssn" || ssn.Type.OID != OIDText || ssn.Table != pt || ssn.FullyEncrypted() {
		t.Errorf("ssn: %+v", ssn)
	}
	bd, _ := pt.Column("birthdate")
	if bd.Mode != ModeRandomized || bd.Type != (LogicalType{Name: "date", OID: OIDDate, Size: 4, Modifier: -1}) {
		t.Errorf("birthdate: %+v", bd)
	}
	enc, ok := p.Table("public", "encounters")
	if !ok || enc.SubjectColumn != "patient" || len(enc.Columns) != 0 {
		t.Errorf("encounters: %+v", enc)
	}
	if _, ok := p.Column("public", "encounters", "patient"); ok {
		t.Error("a subject column is not a protected column")
	}
	if got := strings.Join(p.Schemas(), ","); got != "public" {
		t.Errorf("Schemas: %s", got)
	}
	if n := len(p.Tables()); n != 2 || p.Tables()[0].Name.Name != "encounters" {
		t.Errorf("Tables not sorted: %v", p.Tables())
	}
	if p.FormatVersion() != 1 {
		t.Errorf("FormatVersion %d", p.FormatVersion())
	}
}

// TestLookupsFoldLikePostgres: names in the file fold as PostgreSQL folds
// them, and lookups take PostgreSQL's own (already folded) names exactly.
func TestLookupsFoldLikePostgres(t *testing.T) {
	p := mustLoad(t, "testdata/states-and-quoting.good.yml")
	cases := []struct {
		schema, table, column string
		found                 bool
	}{
		{"public", "patients", "ssn", true},  // Patients.SSN unquoted folds
		{"public", "Patients", "ssn", false}, // "Patients" would be another table
		{"public", "patients", "SSN", false},
		{"public", "patients", "MRN", true}, // "MRN" quoted keeps its case
		{"public", "patients", "mrn", false},
		{"", "patients", "ssn", false}, // the caller resolves the schema
		{"Billing", "Claims", "amount", true},
		{"billing", "claims", "amount", true},
		{"billing", "Claims", "amount", false},
		{"public", "patients", "nope", false},
	}
	for _, c := range cases {
		col, ok := p.Column(c.schema, c.table, c.column)
		if ok != c.found {
			t.Errorf("Column(%q, %q, %q) = %v, want %v", c.schema, c.table, c.column, ok, c.found)
			continue
		}
		if ok && (col.Table.Name != TableName{c.schema, c.table} || col.Name != c.column) {
			t.Errorf("Column(%q, %q, %q) returned %s", c.schema, c.table, c.column, col.QualifiedName())
		}
	}
	if _, ok := p.Table("Billing", "Claims"); !ok {
		t.Error(`Table("Billing", "Claims") not found`)
	}
	if ts := p.TablesNamed("claims"); len(ts) != 1 || ts[0].Name.Schema != "billing" {
		t.Errorf("TablesNamed(claims) = %v", ts)
	}
	claims, _ := p.Table("Billing", "Claims")
	if claims.SubjectColumn != "PatientId" {
		t.Errorf("subject column %q", claims.SubjectColumn)
	}
	mrn, _ := p.Column("public", "patients", "MRN")
	if mrn.QualifiedName() != `public.patients."MRN"` || mrn.Type.String() != "varchar(20)" || mrn.Type.Modifier != 24 {
		t.Errorf("MRN: %s %s %d", mrn.QualifiedName(), mrn.Type, mrn.Type.Modifier)
	}
	// The table says encrypted; income overrides it.
	ssn, _ := p.Column("public", "patients", "ssn")
	income, _ := p.Column("public", "patients", "income")
	if !ssn.FullyEncrypted() || income.FullyEncrypted() || income.Type.OID != OIDInt4 {
		t.Errorf("states: ssn %s, income %s", ssn.State, income.State)
	}
	cov, _ := p.Column("public", "patients", "coverage")
	seen, _ := p.Column("public", "patients", "seen_at")
	flag, _ := p.Column("public", "patients", "flag")
	if cov.Type.String() != "numeric(14,2)" || seen.Type.OID != OIDTimestamptz || flag.Type.OID != OIDBool {
		t.Errorf("types: %s %s %s", cov.Type, seen.Type, flag.Type)
	}
}

func TestColumnLookupDoesNotAllocate(t *testing.T) {
	p := mustLoad(t, "testdata/synthea.good.yml")
	schema, table, column := "public", "patients", "ssn"
	if n := testing.AllocsPerRun(100, func() { p.Column(schema, table, column) }); n != 0 && !race.Enabled {
		t.Errorf("Column allocates %v times", n)
	}
}

func TestVersion(t *testing.T) {
	raw, _ := os.ReadFile("testdata/synthea.good.yml")
	a, _ := Parse(raw)
	b, _ := Parse(raw)
	c, _ := Parse(append(raw, "\n# a comment\n"...))
	if a.Version() != b.Version() || len(a.Version()) != 64 {
		t.Errorf("same bytes, different versions: %s %s", a.Version(), b.Version())
	}
	if a.Version() == c.Version() {
		t.Error("changed file, same version")
	}
}

func TestParseIdentifiers(t *testing.T) {
	good := map[string]TableName{
		"patients":                     {"public", "patients"},
		"Public.Patients":              {"public", "patients"},
		`"Public"."Patients"`:          {"Public", "Patients"},
		`ehr."we""ird.name"`:           {"ehr", `we"ird.name`},
		`"with space".t$1`:             {"with space", "t$1"},
		"_x.ÄÖ":                        {"_x", "ÄÖ"}, // only ASCII folds
		`"a"."b"`:                      {"a", "b"},
		"s." + strings.Repeat("a", 63): {"s", strings.Repeat("a", 63)},
	}
	for in, want := range good {
		got, err := ParseTableName(in)
		if err != nil || got != want {
			t.Errorf("ParseTableName(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "a..b", "a.", ".a", `""`, `"a"b`, "a b", "a-b", "1a", "a.b.c", `"open`, "s." + strings.Repeat("a", 64)} {
		if got, err := ParseTableName(in); err == nil {
			t.Errorf("ParseTableName(%q) = %v, want an error", in, got)
		}
	}
	for in, want := range map[string]string{
		"patients":         "public.patients",
		`"Billing".claims`: `"Billing".claims`,
		`a."x""y"`:         `a."x""y"`,
		`a."1x"`:           `a."1x"`,
	} {
		n, _ := ParseTableName(in)
		if n.String() != want {
			t.Errorf("String of %q = %s, want %s", in, n, want)
		}
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]string{
		"TEXT": "text", "character varying": "varchar", "varchar(64)": "varchar(64)",
		"int": "integer", "INT8": "bigint", "int2": "smallint", "decimal(10)": "numeric(10,0)",
		"timestamp without time zone": "timestamp", "timestamptz(3)": "timestamptz(3)",
		"bool": "boolean", "date": "date",
		"uuid": "uuid", "character": "char(1)", "char(3)": "char(3)", "bpchar": "bpchar", "bpchar(2)": "char(2)",
		"float4": "real", "float8": "double precision", "double  precision": "double precision",
		"time(3)": "time(3)", "time with time zone": "timetz", "interval": "interval",
		"bytea": "bytea", "json": "json", "JSONB": "jsonb",
	} {
		got, err := ParseType(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseType(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"uuid(1)", "interval(3)", "float(10)", "char(0)", "time(7)", "varchar(", "numeric(2,3)", "numeric(x)", "timestamp(7)", "date(1)", "numeric(1,2,3)", ""} {
		if _, err := ParseType(in); err == nil {
			t.Errorf("ParseType(%q) accepted", in)
		}
	}
}

func TestOddDocuments(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "version: is required (write version: 1)",
		"hello":                     `must be a map of settings, got "hello"`,
		"- a\n- b":                  "must be a map of settings, got a list",
		"version: '1'\n":            `version: must be an integer, got "1"`,
		"version: 1\ntables: [a]\n": "tables: must be a map of schema.table names to tables, got a list",
		"version: 1\n? [a]\n: b\n":  "keys must be plain strings, got a list",
		"version: 1\ntables:\n  t:\n    columns:\n      c: {mode: randomized, key: k, type: [text]}\n": "tables[t].columns[c].type: must be a single value, got a list",
	} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
	// Anchors and aliases are plain YAML and work.
	p, err := Parse([]byte("version: 1\ntables:\n  t:\n    columns:\n      a: &pii {mode: randomized, key: pii, type: text}\n      b: *pii\n"))
	if err != nil || p.Validate() != nil {
		t.Fatalf("aliases: %v", err)
	}
	if _, ok := p.Column("public", "t", "b"); !ok {
		t.Error("aliased column b missing")
	}
	// An empty policy protects nothing and is valid.
	p, err = Parse([]byte("version: 1\n"))
	if err != nil || p.Validate() != nil || len(p.Tables()) != 0 {
		t.Errorf("empty policy: %v", err)
	}
}

func TestParseArrayType(t *testing.T) {
	for _, c := range []struct {
		in, str string
		oid     uint32
		mod     int32
	}{
		{"text[]", "text[]", 1009, -1},
		{"_text", "text[]", 1009, -1},
		{"INTEGER []", "integer[]", 1007, -1},
		{"_int4", "integer[]", 1007, -1},
		{"int8[][]", "bigint[]", 1016, -1},
		{"varchar(20)[]", "varchar(20)[]", 1015, 24},
		{"numeric(10,2)[3]", "numeric(10,2)[]", 1231, 10<<16 | 2 + 4},
		{"char[]", "char(1)[]", 1014, 5},
		{"_bpchar", "bpchar[]", 1014, -1},
		{"timestamptz(3)[]", "timestamptz(3)[]", 1185, 3},
		{"uuid[]", "uuid[]", 2951, -1},
		{"date[]", "date[]", 1182, -1},
		{"jsonb[]", "jsonb[]", 3807, -1},
	} {
		lt, err := ParseType(c.in)
		if err != nil || lt.String() != c.str || lt.OID != c.oid || lt.Modifier != c.mod || lt.Size != -1 {
			t.Errorf("ParseType(%q) = %+v (%s), %v; want %s OID %d modifier %d", c.in, lt, lt, err, c.str, c.oid, c.mod)
			continue
		}
		if want := c.mod < 0 && !strings.HasPrefix(c.str, "jsonb") && !strings.HasPrefix(c.str, "bpchar"); lt.EqualByText() != want {
			t.Errorf("%s: EqualByText = %v, want %v", c.in, lt.EqualByText(), want)
		}
		if e, ok := lt.Element(); !ok || e.Modifier != c.mod {
			t.Errorf("%s: Element = %+v, %v", c.in, e, ok)
		}
	}
	for _, bad := range []string{"text[", "[]", "text[x]", "_integer", "foo[]", "text(3)[]"} {
		if lt, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) = %+v, want an error", bad, lt)
		}
	}
}
