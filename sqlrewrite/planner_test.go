package sqlrewrite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// testPolicy protects the demo schema as examples/policy.yml does, plus a
// second table sharing the SSN key, for joins, and a table of time and
// number columns for the casts constants are folded through.
func testPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	pol, err := ParsePolicy([]byte(`
version: 1
tables:
  public.patients:
    subject_column: id
    columns:
      ssn:       {mode: deterministic, key: patients-ssn, type: text}
      passport:  {mode: deterministic, key: patients-passport, type: text}
      first:     {mode: randomized,    key: patients-pii, type: text}
      birthdate: {mode: randomized,    key: patients-pii, type: date}
  billing.claims:
    columns:
      member_ssn: {mode: deterministic, key: patients-ssn, type: text}
      member_mrn: {mode: deterministic, key: admissions-mrn, type: text}
  archive.claims:
    columns:
      note: {mode: randomized, key: patients-pii, type: text}
  public.admissions:
    columns:
      admitted: {mode: randomized,    key: patients-pii, type: timestamptz}
      seen:     {mode: randomized,    key: patients-pii, type: timestamp}
      mrn:      {mode: deterministic, key: admissions-mrn, type: bigint}
      amount:   {mode: randomized,    key: patients-pii, type: numeric}
      visits:   {mode: randomized,    key: patients-pii, type: integer}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	return pol
}

func TestPlanAllowsAndEncrypts(t *testing.T) {
	pol := testPolicy(t)
	cases := []struct {
		sql   string
		slots []string // ValueSlot.String() in order
	}{
		{"SELECT 1", nil},
		{"SELECT * FROM encounters WHERE id = 5", nil},
		{"CREATE TABLE patients (id int PRIMARY KEY, ssn text, first text)", nil},
		{"ALTER TABLE patients ADD COLUMN note text DEFAULT 'x', ALTER COLUMN first DROP DEFAULT", nil},
		{"CREATE UNIQUE INDEX ON patients (ssn)", nil},
		{"TRUNCATE patients", nil},
		{"SELECT * FROM patients", nil},
		{"SELECT p.ssn, first, birthdate FROM patients p WHERE p.id = 7", nil},
		{"SELECT ssn FROM patients WHERE ssn = '999-49-3983'", []string{"literal #0 compare public.patients.ssn"}},
		{"SELECT count(ssn), count(first), pg_catalog.count(birthdate), count(DISTINCT ssn), count(*) FROM patients", nil},
		{"SELECT count(first) FILTER (WHERE ssn = 'x') FROM patients GROUP BY ssn HAVING count(birthdate) > 1",
			[]string{"literal #0 compare public.patients.ssn"}},
		{"SELECT id FROM patients WHERE '1' = ssn AND ssn <> $1 AND passport IN ('X1', $2, NULL)",
			[]string{"literal #0 compare public.patients.ssn", "$1 compare public.patients.ssn",
				"literal #1 compare public.patients.passport", "$2 compare public.patients.passport"}},
		{"SELECT id FROM patients WHERE first IS NULL AND birthdate IS NOT NULL", nil},
		{"SELECT p.id FROM patients p JOIN billing.claims c ON c.member_ssn = p.ssn", nil},
		{"SELECT ssn, count(*) FROM patients GROUP BY ssn", nil},
		{"SELECT DISTINCT ssn FROM patients", nil},
		{"SELECT x FROM (SELECT ssn AS x FROM patients) s WHERE x = 'a'", []string{"literal #0 compare public.patients.ssn"}},
		{"WITH c AS (SELECT ssn FROM patients) SELECT * FROM c WHERE ssn = $1", []string{"$1 compare public.patients.ssn"}},
		{"SELECT id FROM patients WHERE EXISTS (SELECT ssn FROM billing.claims c WHERE c.member_ssn = patients.ssn)", nil},
		{"INSERT INTO patients (id, ssn, first, birthdate) VALUES (1, '123-45-6789', $1, NULL), (2, $2, 'Ann', '2020-01-01') RETURNING id, ssn",
			[]string{"literal #1 write public.patients.ssn", "$1 write public.patients.first",
				"$2 write public.patients.ssn", "literal #3 write public.patients.first", "literal #4 write public.patients.birthdate"}},
		{"INSERT INTO patients (id, ssn) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET ssn = EXCLUDED.ssn, passport = 'x'",
			[]string{"$2 write public.patients.ssn", "literal #0 write public.patients.passport"}},
		{"UPDATE patients SET first = 'Bob', ssn = $1 WHERE ssn = $2 AND id = $3 RETURNING *",
			[]string{"literal #0 write public.patients.first", "$1 write public.patients.ssn", "$2 compare public.patients.ssn"}},
		{"UPDATE patients p SET first = $1 WHERE 7 = p.id", []string{"$1 write public.patients.first"}},
		{"UPDATE patients p SET ssn = p.ssn WHERE id = 3", nil},
		{"INSERT INTO patients (id, ssn) SELECT c.id, c.member_ssn FROM billing.claims c", nil},
		{"INSERT INTO patients (id, ssn) SELECT id, ssn FROM patients WHERE id = 1", nil},
		{"DELETE FROM patients WHERE passport = 'P1'", []string{"literal #0 compare public.patients.passport"}},
		{"SELECT CASE WHEN ssn = 'a' THEN 1 END FROM patients", []string{"literal #0 compare public.patients.ssn"}},
		{"SELECT * FROM other.patients WHERE ssn LIKE 'x%'", nil}, // another schema's table is not protected
		{"SELECT id FROM patients WHERE (ssn) = ('x')", []string{"literal #0 compare public.patients.ssn"}},
		{"SELECT id FROM PUBLIC.\"patients\" WHERE SSN = 'x'", []string{"literal #0 compare public.patients.ssn"}},
		// A SQL cursor's query is planned as the SELECT it is (psycopg's
		// named cursors); its FETCHes are decrypted by RowDescription.
		{"DECLARE c CURSOR WITH HOLD FOR SELECT ssn, first FROM patients WHERE ssn = $1", []string{"$1 compare public.patients.ssn"}},
		{"DECLARE \"c\" NO SCROLL CURSOR WITHOUT HOLD FOR SELECT * FROM patients WHERE passport IN ('a', 'b')",
			[]string{"literal #0 compare public.patients.passport", "literal #1 compare public.patients.passport"}},
		{"FETCH FORWARD 2000 FROM c", nil},
		// A copy of plain columns, of what phiguard computes the same on
		// the cells (a null test, a count), or WITH NO DATA copies no cell;
		// a materialized view is refused by name after (the catalog's views).
		{"CREATE TABLE x AS SELECT id, ssn IS NULL AS n FROM patients WHERE ssn = $1", []string{"$1 compare public.patients.ssn"}},
		{"SELECT count(first) INTO TEMP x FROM patients", nil},
		{"CREATE TABLE x AS SELECT id, ssn FROM patients WITH NO DATA", nil},
		{"CREATE MATERIALIZED VIEW x AS SELECT id, ssn FROM patients", nil},
		{"CREATE TABLE x AS SELECT * FROM encounters", nil},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Refusal != nil {
			t.Errorf("%q: refused: %v", c.sql, plan.Refusal)
			continue
		}
		var got []string
		for _, v := range plan.Values {
			got = append(got, v.String())
		}
		if strings.Join(got, "; ") != strings.Join(c.slots, "; ") {
			t.Errorf("%q:\n got  %v\n want %v", c.sql, got, c.slots)
		}
	}
}

func TestPlanSubjects(t *testing.T) {
	pol := testPolicy(t)
	plan := PlanFor(Analyze("INSERT INTO patients (first, id, ssn) VALUES ('a', 7, 'x'), ($1, $2, NULL)"), pol)
	if plan.Refusal != nil {
		t.Fatal(plan.Refusal)
	}
	var got []string
	for _, v := range plan.Values {
		s := v.String()
		if v.Subject != nil {
			s += fmt.Sprintf(" subject{%d %d}", v.Subject.Literal, v.Subject.Param)
		}
		got = append(got, s)
	}
	want := []string{"literal #0 write public.patients.first subject{1 0}", "literal #2 write public.patients.ssn",
		"$1 write public.patients.first subject{-1 2}"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("slots\n got %q\nwant %q", got, want)
	}
	plan = PlanFor(Analyze("UPDATE patients AS p SET first = $1, ssn = 'x' WHERE ssn = 'y' AND p.id = 'f00' AND true"), pol)
	if plan.Refusal != nil || len(plan.Values) != 3 || plan.Values[0].Subject == nil || plan.Values[0].Subject.Literal != 2 || plan.Values[1].Subject != nil {
		t.Errorf("UPDATE: %+v %v", plan.Values, plan.Refusal)
	}
}

func TestPlanDefaultIsLeftToTheCatalog(t *testing.T) {
	plan := PlanFor(Analyze("INSERT INTO patients (id, ssn, first, passport, birthdate) VALUES (1, DEFAULT, 'x', NULL, NULL)"), testPolicy(t))
	if plan.Refusal != nil || len(plan.Defaults) != 1 || plan.Defaults[0].Name != "ssn" || len(plan.Values) != 1 {
		t.Fatalf("plan %+v", plan)
	}
	// Protected columns an INSERT leaves out take their default too.
	for sql, want := range map[string]string{
		"INSERT INTO patients (id, ssn, first) VALUES (1, 'x', 'y')": "passport birthdate",
		"INSERT INTO patients DEFAULT VALUES":                        "ssn passport first birthdate",
	} {
		plan := PlanFor(Analyze(sql), testPolicy(t))
		var got []string
		for _, c := range plan.Defaults {
			got = append(got, c.Name)
		}
		if plan.Refusal != nil || strings.Join(got, " ") != want {
			t.Errorf("%s: defaults %v, want %s (%v)", sql, got, want, plan.Refusal)
		}
	}
}

func TestPlanCopy(t *testing.T) {
	pol := testPolicy(t)
	plan := PlanFor(Analyze("COPY patients (id, ssn) FROM STDIN WITH (FORMAT csv, HEADER, DELIMITER ';')"), pol)
	if plan.Refusal != nil || plan.Copy == nil {
		t.Fatalf("plan %+v", plan)
	}
	c := plan.Copy
	if !c.In || !c.CSV || !c.Header || c.Delimiter != ";" || strings.Join(c.Columns, ",") != "id,ssn" || c.Table.Name.Name != "patients" {
		t.Fatalf("copy plan %+v", c)
	}
	plan = PlanFor(Analyze("COPY public.patients TO STDOUT"), pol)
	if plan.Refusal != nil || plan.Copy == nil || plan.Copy.In || plan.Copy.CSV || len(plan.Copy.Columns) != 0 {
		t.Fatalf("copy out plan %+v", plan.Copy)
	}
	if plan := PlanFor(Analyze("COPY encounters FROM STDIN"), pol); plan.Copy != nil || plan.Protected {
		t.Fatalf("COPY of an unprotected table was planned: %+v", plan)
	}
}

func TestPlanRefuses(t *testing.T) {
	pol := testPolicy(t)
	cases := []struct{ sql, want string }{
		{"SELECT id FROM patients WHERE ssn LIKE '123%' OR id / 2 = 1", "public.patients.ssn is encrypted (deterministic): operator LIKE"},
		{"SELECT id FROM patients WHERE ssn < '5' OR id / 2 = 1", "operator <"},
		{"SELECT id FROM patients WHERE id IN (SELECT id FROM patients ORDER BY ssn LIMIT 1)", "ORDER BY"},
		{"SELECT upper(first) FROM patients", "function upper()"},
		{"SELECT id FROM patients WHERE first = 'Ann' OR id / 2 = 1", "public.patients.first is encrypted (randomized): = on a randomized column"},
		{"SELECT id FROM patients WHERE birthdate IN ('2020-01-01')", "IN on a randomized column"},
		{"SELECT ssn::int FROM patients", "a cast"},
		{"SELECT id FROM patients WHERE ssn = upper($1) OR id / 2 = 1", "= with a computed value"},
		{"SELECT id FROM patients p JOIN billing.claims c ON c.member_ssn = p.passport", "do not share a deterministic key"},
		{"SELECT 1 FROM admissions a JOIN billing.claims c ON c.member_mrn = a.mrn", "do not share a deterministic key and a type"},
		{"SELECT first, count(*) FROM patients GROUP BY first HAVING max(id) > 1", "GROUP BY with a HAVING phiguard does not evaluate on a randomized column"},
		{"SELECT * FROM (SELECT DISTINCT first FROM patients) s", "DISTINCT"},
		{"SELECT ssn FROM patients UNION SELECT member_ssn FROM billing.claims", "UNION"},
		{"SELECT (SELECT ssn FROM patients LIMIT 1)", "subquery's value"},
		{"SELECT id FROM encounters WHERE patient IN (SELECT ssn FROM patients)", "subquery's value"},
		{"SELECT row_to_json(p) FROM patients p", "whole-row reference"},
		{"SELECT p FROM patients p", "whole-row reference"},
		{"SELECT x FROM (SELECT first AS x FROM patients ORDER BY x LIMIT 2) s", "public.patients.first"},
		{"WITH c AS (SELECT ssn FROM patients) SELECT * FROM c WHERE ssn LIKE 'x%' OR ssn IS NULL OR 1 / 0 = 1", "LIKE"},
		{"SELECT t.a FROM patients AS t(a, b)", "renaming columns"},
		{"INSERT INTO patients VALUES (1, 'x')", "INSERT without a column list"},
		{"INSERT INTO patients (ssn) SELECT upper(member_ssn) FROM billing.claims", "function upper()"},
		{"INSERT INTO patients (ssn) SELECT 'x' || id FROM encounters", "INSERT ... SELECT into an encrypted column"},
		{"INSERT INTO patients (passport) SELECT member_ssn FROM billing.claims", "not under the same deterministic key"},
		{"INSERT INTO patients (first) SELECT p.first FROM other.patients p", "INSERT ... SELECT into an encrypted column"},
		{"INSERT INTO encounters (reason) SELECT ssn FROM patients", "into an unprotected one"},
		{"INSERT INTO patients (ssn) SELECT * FROM billing.claims", "* in a subquery"},
		{"INSERT INTO patients (ssn) VALUES (upper('x'))", "a value computed by SQL in INSERT"},
		// Crypto-shredding: a randomized cell of a subject table needs its row's subject.
		{"INSERT INTO patients (ssn, first) VALUES ('1', 'Ann')", "public.patients.first is encrypted (randomized): a write whose data subject phiguard cannot tell (the INSERT does not list the subject column"},
		{"INSERT INTO patients (id, first) VALUES (gen_random_uuid(), 'Ann')", "the row's subject is not a literal or parameter"},
		{"INSERT INTO patients (id, first) VALUES (NULL, 'Ann')", "the row's subject is not a literal or parameter"},
		{"UPDATE patients SET first = 'Ann' WHERE ssn = '1'", "give public.patients.id as a literal or parameter"},
		{"UPDATE patients SET first = 'Ann' WHERE id = 1 OR id = 2", "does not pin the subject column"},
		{"UPDATE patients SET first = 'Ann' WHERE id > 1", "does not pin the subject column"},
		{"UPDATE patients SET first = 'Ann', id = 3 WHERE id = 1", "changes the subject column itself"},
		{"UPDATE patients SET id = 3 WHERE id = 1", "table public.patients has encrypted columns: changing the subject column public.patients.id (the row's cells sealed per subject would stay sealed"},
		{"INSERT INTO patients (id, ssn) VALUES (1, 'a') ON CONFLICT (ssn) DO UPDATE SET id = EXCLUDED.id", "changing the subject column public.patients.id"},
		{"INSERT INTO patients (id, first) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET first = 'b'", "ON CONFLICT DO UPDATE changes an existing row"},
		{"INSERT INTO patients (id, first) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET first = EXCLUDED.first", "copying a cell sealed per subject"},
		{"INSERT INTO patients (id, first) SELECT id, first FROM patients", "INSERT ... SELECT of cells sealed per subject"},
		{"UPDATE patients SET first = upper(first)", "a value computed by SQL in UPDATE"},
		{"UPDATE patients SET ssn = passport", "a value computed by SQL in UPDATE"},
		{"UPDATE patients SET (ssn, first) = ('a', 'b')", "multiple-column SET"},
		{"INSERT INTO patients (ssn) VALUES ('-') ON CONFLICT (ssn) DO UPDATE SET first = EXCLUDED.ssn", "a value computed by SQL in ON CONFLICT"},
		{"DELETE FROM patients WHERE first LIKE 'A%'", "LIKE"},
		{"COPY patients TO '/tmp/x'", "COPY to or from a file"},
		{"COPY patients FROM PROGRAM 'cat'", "COPY to or from a file"},
		{"COPY patients TO STDOUT (FORMAT xml)", "COPY in xml format"},
		{"COPY (SELECT ssn FROM patients) TO STDOUT", "COPY (query)"},
		{"COPY patients FROM STDIN (FORCE_NULL (ssn))", "the COPY option force_null"},
		{"COPY patients FROM STDIN; SELECT 1", "COPY together with other statements"},
		{"COPY patients FROM STDIN WHERE ssn LIKE 'x'", "LIKE"},
		{"CREATE TABLE patients (id int, ssn text DEFAULT '000-00-0000')", "a default or generated value on an encrypted column"},
		{"ALTER TABLE patients ADD COLUMN passport text DEFAULT 'X'", "a default or generated value on an encrypted column"},
		{"ALTER TABLE patients ALTER COLUMN first SET DEFAULT 'Ann'", "a default value on an encrypted column"},
		{"ALTER TABLE patients ALTER COLUMN ssn TYPE text USING upper(ssn)", "USING on an encrypted column"},
		{"ALTER TABLE patients ADD COLUMN first text GENERATED ALWAYS AS ('x') STORED", "generated value"},
		// The policy names what it protects.
		{"ALTER TABLE patients RENAME COLUMN ssn TO ssn2", "renaming an encrypted column"},
		{"ALTER TABLE public.patients RENAME zip TO first", "renaming an encrypted column"},
		{"ALTER TABLE patients RENAME TO people", "renaming it (the policy names it)"},
		{"ALTER TABLE patients SET SCHEMA archive", "moving it"},
		// DDL that has the database evaluate an expression over cells.
		{"CREATE TABLE patients (id int, ssn text, CHECK (ssn <> ''))", "public.patients.ssn is encrypted (deterministic): a CHECK constraint"},
		{"CREATE TABLE patients (id int, first text CHECK (length(first) > 1))", "public.patients.first is encrypted (randomized): a CHECK constraint"},
		{"CREATE TABLE patients (id int, first text UNIQUE)", "UNIQUE or PRIMARY KEY on a randomized column"},
		{"CREATE TABLE patients (id int, first text, up text GENERATED ALWAYS AS (upper(first)) STORED)", "a generated column computed from an encrypted column"},
		{"ALTER TABLE patients ADD CONSTRAINT c CHECK (patients.first IS NOT NULL) NOT VALID", "a CHECK constraint"},
		{"ALTER TABLE patients ADD PRIMARY KEY (id, first)", "UNIQUE or PRIMARY KEY on a randomized column"},
		{"ALTER TABLE encounters ADD FOREIGN KEY (reason) REFERENCES patients (first)", "FOREIGN KEY referencing a randomized column"},
		{"CREATE INDEX ON patients (id) WHERE ssn = '1'", "an index predicate (WHERE)"},
		{"CREATE INDEX ON patients ((ssn || ''))", "an index expression"},
		{"CREATE UNIQUE INDEX ON patients (first)", "a UNIQUE index on a randomized column"},
		{"CREATE POLICY p ON patients USING (first <> 'x')", "a row security policy"},
		// A copy of an encrypted column's cells into a new table, where the
		// database would compute on the ciphertext.
		{"CREATE TABLE x AS SELECT id, ssn FROM patients", "public.patients.ssn is encrypted (deterministic): CREATE TABLE AS of an encrypted column"},
		{"CREATE TEMP TABLE x AS SELECT p.first AS f FROM patients p", "CREATE TABLE AS of an encrypted column"},
		{"CREATE TABLE x (a, b) AS WITH w AS (SELECT id, first FROM patients) SELECT * FROM w", "CREATE TABLE AS of * over a table with encrypted columns"},
		{"CREATE TABLE x AS SELECT * FROM (SELECT ssn FROM patients) s", "CREATE TABLE AS of * over a table with encrypted columns"},
		{"CREATE UNLOGGED TABLE x AS TABLE patients", "CREATE TABLE AS of * over a table with encrypted columns"},
		{"SELECT id, first INTO x FROM patients", "SELECT INTO of an encrypted column"},
		{"SELECT * INTO TEMP x FROM patients", "SELECT INTO of * over a table with encrypted columns"},
		{"WITH w AS (SELECT ssn FROM patients) SELECT ssn INTO x FROM w", "SELECT INTO of an encrypted column"},
		{"ALTER POLICY p ON patients WITH CHECK (ssn <> 'x')", "a row security policy"},
		{"SELECT * FROM patients WHERE ssn = -5", "= with a computed value"},
		{"SELECT * FORM patients", "phiguard cannot analyse this statement: syntax error at position 10"},
		{"WITH x AS (UPDATE patients SET first = 'a' RETURNING id) SELECT * FROM x", "data-modifying statement"},
		{"WITH x AS (INSERT INTO patients (ssn) VALUES ('1') RETURNING id) SELECT 1", "data-modifying statement"},
		{"SELECT ssn || 'x' FROM patients", "operator ||"},
		{"SELECT coalesce(first, 'x') FROM patients", "CoalesceExpr"},
		{"SELECT id FROM patients WHERE ssn = ANY($1)", "operator = ANY"},
		{"SELECT id FROM patients p WHERE p.ssn = (SELECT '1')", "= with a computed value"},
		{"SELECT id FROM encounters e WHERE EXISTS (SELECT 1 FROM patients p WHERE p.first = e.reason)", "= on a randomized column"},
		{"MERGE INTO patients p USING staging s ON p.id = s.id WHEN MATCHED THEN UPDATE SET first = s.first", "merge statement"},
		{"SELECT id FROM patients WHERE ssn = 'a' OR first LIKE 'x' OR id / 2 = 1", "LIKE"},
		{"SELECT id FROM patients WHERE ssn BETWEEN 'a' AND 'b' OR id / 2 = 1", "operator BETWEEN"},
		{"SELECT id FROM patients WHERE ssn IS DISTINCT FROM 'a' OR id / 2 = 1", "operator DISTINCT"},
		{"SELECT max(ssn) FROM patients GROUP BY id", "function max()"},
		// count() of a column is its null test (and, with DISTINCT, its
		// grouping); anything else in it stays refused.
		{"SELECT count(DISTINCT first) FROM patients GROUP BY id", "GROUP BY or DISTINCT on a randomized column"},
		{"SELECT count(ssn ORDER BY ssn) FROM patients", "function count()"},
		{"SELECT count(ssn) OVER (ORDER BY ssn) FROM patients", "function count()"},
		{"SELECT count(upper(ssn)) FROM patients", "function upper()"},
		{"SELECT count(p) FROM patients p", "whole-row reference"},
		{"SELECT count(*) FILTER (WHERE first LIKE 'A%') FROM patients", "LIKE"},
		{"SELECT count(first) FROM patients GROUP BY first", "GROUP BY or DISTINCT on a randomized column"},
		{"SELECT id FROM patients WHERE lower(ssn) = 'a' OR id / 2 = 1", "function lower()"},
		{"DECLARE c CURSOR FOR SELECT id FROM patients WHERE ssn LIKE 'a%'", "LIKE"},
		{"DECLARE c CURSOR FOR SELECT upper(first) FROM patients", "function upper()"},
		// Settings changed out of SET's sight (standard_conforming_strings
		// off would make PostgreSQL lex a pipelined statement otherwise).
		{"UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'", "UPDATE pg_settings"},
		{"WITH s AS (UPDATE pg_catalog.pg_settings SET setting = 'on' WHERE name = 'x' RETURNING 1) SELECT 1", "UPDATE pg_settings"},
		{"ALTER SYSTEM SET standard_conforming_strings = off", "standard_conforming_strings"},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Refusal == nil {
			t.Errorf("%q: not refused (values %v)", c.sql, plan.Values)
			continue
		}
		if msg := plan.Refusal.Error(); !strings.Contains(msg, c.want) {
			t.Errorf("%q: refusal %q lacks %q", c.sql, msg, c.want)
		}
		if plan.Values != nil {
			t.Errorf("%q: a refused plan still lists values", c.sql)
		}
	}
}

// TestPlanLiteralIndexesMatchTheShapeScanner checks literal indexes are the
// ones the proxy will find when it re-scans any text of the same shape.
func TestPlanLiteralIndexesMatchTheShapeScanner(t *testing.T) {
	pol := testPolicy(t)
	sql := "INSERT INTO patients (id, first, ssn) VALUES (42, 'O''Brien', '123-45-6789')"
	plan := PlanFor(Analyze(sql), pol)
	_, spans, ok := appendShape(nil, []byte(sql), nil)
	if !ok || plan.Refusal != nil || len(plan.Values) != 2 {
		t.Fatalf("plan %+v ok=%v", plan, ok)
	}
	for _, v := range plan.Values {
		lit := sql[spans[v.Literal].start:spans[v.Literal].end]
		if (v.Column.Name == "first") != (lit == "'O''Brien'") || (v.Column.Name == "ssn") != (lit == "'123-45-6789'") {
			t.Errorf("slot %v points at %s", v, lit)
		}
	}
	// A text the shape scanner gives up on is indexed by PostgreSQL's scanner.
	sql = "SELECT id FROM patients WHERE first IS NULL AND ssn = E'12\\'3'"
	plan = PlanFor(Analyze(sql), pol)
	if plan.Refusal != nil || len(plan.Values) != 1 || plan.Values[0].Literal != 0 {
		t.Fatalf("escape-string literal: %+v", plan)
	}
}

func TestCompareForms(t *testing.T) {
	pol := testPolicy(t)
	plan := PlanFor(Analyze("SELECT id FROM patients WHERE ssn = 'a' AND ssn <> 'b' AND 'c' = ssn AND passport IN ('d', $1, NULL) AND ssn NOT IN ('e') AND ssn = $2"), pol)
	if plan.Refusal != nil {
		t.Fatal(plan.Refusal)
	}
	// ssn = $2: an item of the array its operator check makes
	// (PlaceArray); ssn = 'a' too, one of two values = ssn
	// (classPlacements).
	want := []CompareForm{CompareItem, CompareNe, CompareOther, CompareIn, CompareIn, CompareIn, CompareItem}
	if len(plan.Values) != len(want) {
		t.Fatalf("%d values: %v", len(plan.Values), plan.Values)
	}
	for i, v := range plan.Values {
		if v.Form != want[i] {
			t.Errorf("value %d (%s): form %d, want %d", i, v, v.Form, want[i])
		}
	}
}

func TestCompareParamTokens(t *testing.T) {
	pol := testPolicy(t)
	sql := "SELECT id FROM patients WHERE id = $2 AND ssn = $1 AND ssn NOT IN ($3, '$9') AND $1 = ssn /* $4 */"
	plan := PlanFor(Analyze(sql), pol)
	if plan.Refusal != nil {
		t.Fatal(plan.Refusal)
	}
	spans := ParamSpans([]byte(sql))
	if len(spans) != 4 {
		t.Fatalf("spans %v", spans)
	}
	type want struct {
		param, token int
		form         CompareForm
	}
	var got []want
	for _, v := range plan.Values {
		if v.Literal < 0 && v.Use == UseCompare {
			got = append(got, want{v.Param, v.Token, v.Form})
			if v.Token >= 0 && sql[spans[v.Token][0]:spans[v.Token][1]] != fmt.Sprintf("$%d", v.Param) {
				t.Errorf("$%d: token %d is %q", v.Param, v.Token, sql[spans[v.Token][0]:spans[v.Token][1]])
			}
		}
	}
	exp := []want{{1, 1, CompareItem}, {3, 2, CompareIn}, {1, 3, CompareOther}}
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Errorf("got %v, want %v", got, exp)
	}
}

func TestPlanBinaryCopy(t *testing.T) {
	pol := testPolicy(t)
	for _, sql := range []string{"COPY patients (id, ssn) FROM STDIN (FORMAT binary)", "COPY patients TO STDOUT WITH (FORMAT binary)", "COPY patients FROM STDIN BINARY"} {
		plan := PlanFor(Analyze(sql), pol)
		if plan.Refusal != nil || plan.Copy == nil || !plan.Copy.Binary || plan.Copy.CSV {
			t.Errorf("%s: %+v %v", sql, plan.Copy, plan.Refusal)
		}
	}
}

// validPolicy is the policy a test writes, parsed and validated.
func validPolicy(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	pol, err := ParsePolicy([]byte(yaml))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return pol
}
