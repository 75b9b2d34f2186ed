package sqlrewrite

import (
	"reflect"
	"strings"
	"testing"
)

func TestAnalyzeKindsAndTables(t *testing.T) {
	cases := []struct {
		sql    string
		kinds  []Kind
		tables [][]string
	}{
		{"SELECT 1", []Kind{KindSelect}, [][]string{nil}},
		{"select * from patients p join encounters e on e.patient = p.id",
			[]Kind{KindSelect}, [][]string{{"patients", "encounters"}}},
		{`SELECT * FROM "Patients", public.encounters`,
			[]Kind{KindSelect}, [][]string{{"Patients", "public.encounters"}}},
		{`SELECT * FROM PATIENTS`, []Kind{KindSelect}, [][]string{{"patients"}}},
		{`SELECT * FROM U&"p\0061tients"`, []Kind{KindSelect}, [][]string{{"patients"}}},
		{"SELECT (SELECT max(x) FROM (SELECT x FROM deep.t WHERE y IN (SELECT y FROM u)) s)",
			[]Kind{KindSelect}, [][]string{{"deep.t", "u"}}},
		{"WITH c AS (SELECT * FROM conditions) SELECT * FROM c, LATERAL (SELECT * FROM meds m WHERE m.p = c.p) l",
			[]Kind{KindSelect}, [][]string{{"c", "meds", "conditions"}}},
		{"SELECT a FROM t1 UNION SELECT b FROM t2", []Kind{KindSelect}, [][]string{{"t1", "t2"}}},
		{"TABLE patients", []Kind{KindSelect}, [][]string{{"patients"}}},
		{"INSERT INTO patients (ssn) SELECT ssn FROM staging ON CONFLICT (ssn) DO UPDATE SET ssn = excluded.ssn RETURNING *",
			[]Kind{KindInsert}, [][]string{{"patients", "staging"}}},
		{"UPDATE ONLY patients SET last = 'x' FROM encounters WHERE encounters.patient = patients.id",
			[]Kind{KindUpdate}, [][]string{{"patients", "encounters"}}},
		{"DELETE FROM patients USING consent WHERE consent.p = patients.id", []Kind{KindDelete}, [][]string{{"patients", "consent"}}},
		{"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", []Kind{KindMerge}, [][]string{{"t", "s"}}},
		{"COPY patients (id, ssn) FROM STDIN WITH (FORMAT csv)", []Kind{KindCopy}, [][]string{{"patients"}}},
		{"COPY (SELECT * FROM patients) TO STDOUT", []Kind{KindCopy}, [][]string{{"patients"}}},
		{"CREATE TABLE x (a int)", []Kind{KindDDL}, [][]string{{"x"}}},
		{"ALTER TABLE x ADD COLUMN b text", []Kind{KindDDL}, [][]string{{"x"}}},
		{"DROP TABLE x", []Kind{KindDDL}, [][]string{nil}},
		{"TRUNCATE patients", []Kind{KindDDL}, [][]string{{"patients"}}},
		{"BEGIN; SELECT 1; COMMIT", []Kind{KindTransaction, KindSelect, KindTransaction}, [][]string{nil, nil, nil}},
		{"SET search_path = evil", []Kind{KindSet}, [][]string{nil}},
		{"SHOW server_version", []Kind{KindSet}, [][]string{nil}},
		{"PREPARE p AS SELECT * FROM patients", []Kind{KindPrepared}, [][]string{{"patients"}}},
		{"DECLARE c CURSOR FOR SELECT * FROM patients", []Kind{KindCursor}, [][]string{{"patients"}}},
		{"EXPLAIN ANALYZE SELECT * FROM patients", []Kind{KindExplain}, [][]string{{"patients"}}},
		{"SELECT * FROM patients AS p JOIN visits ON true FOR UPDATE OF p, visits", []Kind{KindSelect}, [][]string{{"patients", "visits"}}},
		{"DO $$BEGIN PERFORM 1; END$$", []Kind{KindCall}, [][]string{nil}},
		{"LISTEN chan", []Kind{KindUtility}, [][]string{nil}},
		{"VACUUM patients", []Kind{KindUtility}, [][]string{{"patients"}}},
		{"", []Kind{KindEmpty}, [][]string{nil}},
		{" -- only a comment\n", []Kind{KindEmpty}, [][]string{nil}},
	}
	for _, c := range cases {
		a := Analyze(c.sql)
		if a.Err != nil {
			t.Errorf("%q: unexpected parse error %v", c.sql, a.Err)
			continue
		}
		if got := a.Kinds(); !reflect.DeepEqual(got, c.kinds) {
			t.Errorf("%q: kinds %v, want %v", c.sql, got, c.kinds)
		}
		for i, st := range a.Statements {
			var names []string
			for _, tb := range st.Tables {
				names = append(names, tb.String())
			}
			if !reflect.DeepEqual(names, c.tables[i]) {
				t.Errorf("%q statement %d: tables %v, want %v", c.sql, i, names, c.tables[i])
			}
		}
	}
}

func TestAnalyzeParseError(t *testing.T) {
	a := Analyze("SELECT * FORM patients")
	if a.Err == nil {
		t.Fatal("expected a parse error")
	}
	if a.Err.Position != 10 {
		t.Errorf("position %d, want 10 (the F of FORM)", a.Err.Position)
	}
	if got := a.Kinds(); !reflect.DeepEqual(got, []Kind{KindUnknown}) {
		t.Errorf("kinds %v", got)
	}
	if strings.Contains(a.Normalized(), "patients") {
		t.Errorf("an unparsable statement must not be logged verbatim: %q", a.Normalized())
	}
}

func TestNormalizedHidesConstants(t *testing.T) {
	a := Analyze("SELECT * FROM patients WHERE ssn = '999-49-3983' AND age > 42")
	n := a.Normalized()
	for _, secret := range []string{"999-49-3983", "42"} {
		if strings.Contains(n, secret) {
			t.Errorf("normalized %q still holds %q", n, secret)
		}
	}
	if !strings.Contains(n, "$1") || !strings.Contains(n, "$2") {
		t.Errorf("normalized %q lacks placeholders", n)
	}
}

// TestNormalizedHidesUtilityConstants: pg_query's Normalize leaves the
// constants of utility statements (DDL, SET, COMMENT) in place.
func TestNormalizedHidesUtilityConstants(t *testing.T) {
	for _, sql := range []string{
		"ALTER TABLE patients ALTER COLUMN ssn SET DEFAULT '999-49-3983'",
		"CREATE TABLE p (ssn text DEFAULT '999-49-3983', n int DEFAULT 4242)",
		"COMMENT ON COLUMN patients.ssn IS '999-49-3983'",
		"SET application_name = '999-49-3983'",
		"ALTER TABLE patients ADD CHECK (ssn <> E'999-49-3983' AND n <> 4242.5 AND b <> B'1010' AND x <> X'4242')",
		"CREATE TABLE q (s text DEFAULT U&'999-49-3983')",
		"CREATE TABLE q (s text DEFAULT U&'999-49-3983' UESCAPE '!', t text)",
		"ALTER TABLE patients /* 999-49-3983 */ ALTER COLUMN ssn SET DEFAULT $$999-49-3983$$ -- 999-49-3983",
	} {
		n := Analyze(sql).Normalized()
		for _, secret := range []string{"999-49-3983", "4242", "1010"} {
			if strings.Contains(n, secret) {
				t.Errorf("normalized %q still holds %q", n, secret)
			}
		}
	}
}

func TestKindString(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range AllKinds() {
		s := k.String()
		if s == "" || seen[s] {
			t.Errorf("kind %d has empty or duplicate name %q", k, s)
		}
		seen[s] = true
	}
	if Kind(200).String() != "unknown" {
		t.Error("out-of-range kind should print as unknown")
	}
}

func TestReadsOnce(t *testing.T) {
	for sql, once := range map[string]bool{
		"SELECT first, id FROM patients WHERE id = $1":                                          true,
		"SELECT p.first, p.id FROM public.patients p JOIN encounters e ON e.patient = p.id":     true,
		"UPDATE patients SET last = 'x' WHERE id = $1 RETURNING first, id":                      true,
		"SELECT first, id FROM patients; SELECT first, id FROM patients":                        true,
		"SELECT a.first, b.id FROM patients a, patients b":                                      false,
		"SELECT a.first, b.id FROM patients a, public.patients b":                               false,
		"SELECT first, NULL FROM patients UNION SELECT NULL, id FROM patients":                  false,
		"SELECT x.first, y.id FROM (SELECT first FROM patients) x, (SELECT id FROM patients) y": false,
		"WITH q AS (SELECT first, id FROM patients) SELECT a.first, b.id FROM q a, q b":         false,
		"SELECT first, id FROM patients WHERE id IN (SELECT id FROM patients)":                  false,
		"SELECT first, id FROM patients; SELECT a.id FROM patients a, patients b":               false,
		"SELECT first FORM patients":                                                            false,
	} {
		if got := Analyze(sql).ReadsOnce("patients"); got != once {
			t.Errorf("%q: ReadsOnce(patients) = %v, want %v", sql, got, once)
		}
	}
	if !Analyze("SELECT a.first, b.id FROM patients a, patients b").ReadsOnce("encounters") {
		t.Error("a table the statement does not name is read at most once")
	}
}
