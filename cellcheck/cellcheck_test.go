package cellcheck_test

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/policy"
)

// cellPolicy has a column of every kind phiguard seals: randomized and
// deterministic, per subject or not, with search terms of every type or
// none.
const cellPolicy = `
version: 1
tables:
  public.people:
    subject_column: id
    columns:
      last: {mode: randomized, key: k-pii, type: text, search: [equality, order, match], search_key_version: 1}
      born: {mode: randomized, key: k-pii, type: date, search: [equality, order], search_key_version: 1}
      note: {mode: randomized, key: k-pii, type: text}
  public.visits:
    columns:
      mrn:  {mode: deterministic, key: k-mrn, type: text, search: [order, match], search_key_version: 1}
      ssn:  {mode: deterministic, key: k-ssn, type: text}
      name: {mode: randomized, key: k-pii, type: text, search: [match], search_key_version: 1}
      age:  {mode: randomized, key: k-pii, type: integer}
`

var samples = map[string][]string{
	"text":    {"Gleason123", "", "ab", "Ünïcode straße", "O'Brien", "~phg~", "line\nbreak"},
	"date":    {"1980-02-29", "infinity"},
	"integer": {"-42", "0"},
}

// TestPatternAcceptsEveryCell: every cell phiguard seals, of every kind,
// matches the CHECK's pattern (Go's RE2 reads it as PostgreSQL's ARE does;
// integration/cellcheck_test.go runs it in PostgreSQL).
func TestPatternAcceptsEveryCell(t *testing.T) {
	pol, c := setup(t)
	re := regexp.MustCompile(cellcheck.Pattern)
	ctx := context.Background()
	n := 0
	for _, tab := range pol.Tables() {
		for _, col := range tab.Columns {
			var subject []byte
			if col.PerSubject() {
				subject = []byte("42")
			}
			for _, raw := range samples[col.Type.Name] {
				canon, err := cellcipher.Canonical(col, 0, []byte(raw))
				if err != nil {
					t.Fatalf("%s: %v", col.QualifiedName(), err)
				}
				var cell []byte
				if col.Search != 0 {
					cell, err = c.SealWithTerms(ctx, col, nil, canon, subject)
				} else {
					cell, err = c.Seal(ctx, col, canon, subject)
				}
				if err != nil {
					t.Fatalf("%s: %v", col.QualifiedName(), err)
				}
				if !re.Match(cell) {
					t.Errorf("%s: the pattern refuses a cell phiguard sealed: %s", col.QualifiedName(), cell)
				}
				if col.Search != 0 != bytes.HasPrefix(cell, []byte(keys.TermsPrefix)) {
					t.Errorf("%s: cell of the wrong format for the test: %.8s", col.QualifiedName(), cell)
				}
				n++
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d cells checked", n)
	}
}

// TestPatternRefusesPlaintext: values that are not cells, among them
// ones that begin like one.
func TestPatternRefusesPlaintext(t *testing.T) {
	re := regexp.MustCompile(cellcheck.Pattern)
	for _, v := range []string{"", "Gleason", "123-45-6789", "~phg~", "~phs~", "~phg~AQ AA", "~phg~AQ==", "~phg~AQAB\n",
		"x~phg~AQAB", "~PHG~AQAB", "~phs~0~~~~~AQAB", "~phs~01~~~~~AQAB", "~phs~1~~~~AQAB", "~phs~1~~~~~~AQAB",
		"~phs~1~a b~~~~AQAB", "~phs~1~~~~~"} {
		if re.MatchString(v) {
			t.Errorf("the pattern accepts %q", v)
		}
	}
	for _, v := range []string{"~phg~AQAB", "~phs~1~~~~~AQAB", "~phs~12~AAAAAAAAAAA=~AA==~abcdef~abc-_0.xyz_-9~AQAB"} {
		if !re.MatchString(v) {
			t.Errorf("the pattern refuses the cell syntax %q", v)
		}
	}
}

// TestNameAndColumn: the name is recognised back to its column, and a
// long column name is cut within PostgreSQL's 63 bytes, distinct.
func TestNameAndColumn(t *testing.T) {
	long1, long2 := strings.Repeat("a", 60)+"x", strings.Repeat("a", 60)+"y"
	pol, err := policy.Parse([]byte("version: 1\ntables:\n  public.t:\n    columns:\n      s: {mode: randomized, key: k, type: text}\n      " +
		long1 + ": {mode: randomized, key: k, type: text}\n      " + long2 + ": {mode: randomized, key: k, type: text}\n"))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := pol.Table("public", "t")
	s, _ := pt.Column("s")
	if got := cellcheck.Name(s); got != "phiguard_s_cells" {
		t.Fatalf("Name = %q", got)
	}
	a, _ := pt.Column(long1)
	b, _ := pt.Column(long2)
	if len(cellcheck.Name(a)) > 63 || cellcheck.Name(a) == cellcheck.Name(b) {
		t.Fatalf("long names: %q %q", cellcheck.Name(a), cellcheck.Name(b))
	}
	for _, c := range []*policy.ProtectedColumn{s, a, b} {
		if got, ok := cellcheck.Column(pt, cellcheck.Name(c)); !ok || got != c {
			t.Fatalf("Column(%q) = %v, %v", cellcheck.Name(c), got, ok)
		}
	}
	for _, n := range []string{"phiguard_s_terms", "s_cells", "phiguard_t_cells", ""} {
		if _, ok := cellcheck.Column(pt, n); ok {
			t.Fatalf("Column(%q) found a column", n)
		}
	}
	if !strings.Contains(cellcheck.Expr(s), "OPERATOR(pg_catalog.~)") || !strings.Contains(cellcheck.Expr(s), `pg_catalog."C"`) {
		t.Fatalf("Expr does not name pg_catalog's operator and collation: %s", cellcheck.Expr(s))
	}
}

func setup(t *testing.T) (*policy.Policy, *cellcipher.Cipher) {
	t.Helper()
	pol, err := policy.Parse([]byte(cellPolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prov, err := local.New(filepath.Join(t.TempDir(), "keyring.json"), keys.NewSecret(bytes.Repeat([]byte{9}, local.MasterKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Init(ctx, []string{"k-pii", "k-mrn", "k-ssn", keys.SubjectKeyID}); err != nil {
		t.Fatal(err)
	}
	kr, err := prov.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := keys.NewSubjectKeys(kr, prov, keys.SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pol, &cellcipher.Cipher{Keyring: kr, Subjects: sk}
}
