package cellcipher_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/policy"
)

// searchPolicy has a column with terms of every type that may have them,
// in both modes, sealed per subject and not.
const searchPolicy = `
version: 1
tables:
  public.people:
    subject_column: id
    columns:
      last:  {mode: randomized, key: k-pii, type: text, search: [order, match], search_key_version: 1}
      first: {mode: randomized, key: k-pii, type: text, search: [equality, match], search_key_version: 1}
      born:  {mode: randomized, key: k-pii, type: date, search: [equality, order], search_key_version: 1}
      mrn:   {mode: deterministic, key: k-mrn, type: text, search: [order, match], search_key_version: 1}
  public.visits:
    columns:
      mrn:    {mode: deterministic, key: k-mrn, type: text, search: [order, match], search_key_version: 1}
      plain:  {mode: randomized, key: k-pii, type: text}
      t_text: {mode: randomized, key: k-pii, type: text, search: [equality, order, match], search_key_version: 1}
      t_vc:   {mode: randomized, key: k-pii, type: varchar(64), search: [equality, order, match], search_key_version: 1}
      t_char: {mode: randomized, key: k-pii, type: char(11), search: [equality, order, match], search_key_version: 1}
      t_date: {mode: randomized, key: k-pii, type: date, search: [equality, order], search_key_version: 1}
      t_ts:   {mode: randomized, key: k-pii, type: timestamp, search: [equality, order], search_key_version: 1}
      t_tstz: {mode: randomized, key: k-pii, type: timestamptz, search: [equality, order], search_key_version: 1}
      t_time: {mode: randomized, key: k-pii, type: time, search: [equality, order], search_key_version: 1}
      t_i2:   {mode: randomized, key: k-pii, type: smallint, search: [equality, order], search_key_version: 1}
      t_i4:   {mode: randomized, key: k-pii, type: integer, search: [equality, order], search_key_version: 1}
      t_i8:   {mode: randomized, key: k-pii, type: bigint, search: [equality, order], search_key_version: 1}
      t_num:  {mode: randomized, key: k-pii, type: numeric, search: [equality, order], search_key_version: 1}
      t_iv:   {mode: randomized, key: k-pii, type: interval, search: [equality, order], search_key_version: 1}
      t_uuid: {mode: randomized, key: k-pii, type: uuid, search: [equality, order], search_key_version: 1}
      t_bool: {mode: randomized, key: k-pii, type: boolean, search: [equality, order], search_key_version: 1}
      t_bin:  {mode: randomized, key: k-pii, type: bytea, search: [equality, order], search_key_version: 1}
      d_text: {mode: deterministic, key: k-det, type: text, search: [order, match], search_key_version: 1}
      d_date: {mode: deterministic, key: k-det2, type: date, search: [order], search_key_version: 1}
      d_num:  {mode: deterministic, key: k-det3, type: numeric, search: [order], search_key_version: 1}
`

func searchSetup(t testing.TB) (*policy.Policy, *cellcipher.Cipher) {
	t.Helper()
	pol, err := policy.Parse([]byte(searchPolicy))
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
	if _, err := prov.Init(ctx, []string{"k-pii", "k-mrn", "k-det", "k-det2", "k-det3", keys.SubjectKeyID}); err != nil {
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

// searchSamples are values of each test column's type, as a client may
// write them (canonicalised before sealing, as the proxy does).
var searchSamples = map[string][]string{
	"text":        {"Gleason123", "", "ab", "Ünïcode straße", "O'Brien"},
	"varchar":     {"O'Brien", "x"},
	"char":        {"999-12-3456", "a"},
	"date":        {"1980-02-29", "infinity", "4713-01-01 BC"},
	"timestamp":   {"2020-01-02 03:04:05.123456", "-infinity"},
	"timestamptz": {"2020-01-02 03:04:05+02"},
	"time":        {"12:34:56", "24:00:00"},
	"smallint":    {"7", "-32768"},
	"integer":     {"-42", "0"},
	"bigint":      {"9000000000"},
	"numeric":     {"12.50", "-0.001", "NaN", "1e20"},
	"interval":    {"1 mon 2 days", "-3 hours"},
	"uuid":        {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"},
	"boolean":     {"t", "false"},
	"bytea":       {`\x0102ff`, ""},
}

// TestSealWithTermsOpensAsSeal: for every column with terms, of every type
// and mode, per subject or not, a cell with terms opens to the value a
// cell without them opens to; its term version is search_key_version and
// its terms are exactly the ones the column's inputs and term keys give
// (and only the kinds its policy lists); a column without search gets a
// format-1 cell.
func TestSealWithTermsOpensAsSeal(t *testing.T) {
	pol, c := searchSetup(t)
	ctx := context.Background()
	n := 0
	for _, tab := range pol.Tables() {
		for _, col := range tab.Columns {
			base := col.Type.Name
			for _, raw := range searchSamples[base] {
				canon, err := cellcipher.Canonical(col, 0, []byte(raw))
				if err != nil {
					t.Fatalf("%s %q: %v", col.QualifiedName(), raw, err)
				}
				checkSealWithTerms(t, ctx, c, col, canon)
				n++
			}
			if len(searchSamples[base]) == 0 {
				t.Fatalf("no samples for %s", base)
			}
		}
	}
	t.Logf("%d values sealed with terms and opened", n)
}

func checkSealWithTerms(t *testing.T, ctx context.Context, c *cellcipher.Cipher, col *policy.ProtectedColumn, canon []byte) {
	t.Helper()
	name := col.QualifiedName()
	subject := []byte("patient-7")
	with, err := c.SealWithTerms(ctx, col, nil, canon, subject)
	if err != nil {
		t.Fatalf("%s: SealWithTerms: %v", name, err)
	}
	without, err := c.Seal(ctx, col, canon, subject)
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range [][]byte{with, without} {
		got, state, err := c.Open(ctx, col, cell)
		if err != nil || state != cellcipher.Opened || !bytes.Equal(got, canon) {
			t.Fatalf("%s: Open(%.20s…) = %q %v %v, want %q", name, cell, got, state, err, canon)
		}
		var s keys.Scratch
		got, _, err = c.OpenInto(ctx, &s, nil, col, cell)
		if err != nil || !bytes.Equal(got, canon) {
			t.Fatalf("%s: OpenInto = %q %v", name, got, err)
		}
		// A subject cell given to OpenColumnKeyInto against its contract
		// fails: no plaintext, and not read as legacy plaintext either.
		got, state, err = c.OpenColumnKeyInto(&s, nil, col, cell)
		if keys.IsSubjectCell(cell) {
			if err == nil || got != nil || state == cellcipher.Legacy {
				t.Fatalf("%s: OpenColumnKeyInto of a subject cell = %q %v %v", name, got, state, err)
			}
		} else if err != nil || state != cellcipher.Opened || !bytes.Equal(got, canon) {
			t.Fatalf("%s: OpenColumnKeyInto = %q %v %v", name, got, state, err)
		}
	}
	if keys.IsSubjectCell(with) != col.PerSubject() {
		t.Fatalf("%s: subject cell %v, per subject %v", name, keys.IsSubjectCell(with), col.PerSubject())
	}
	info, err := keys.Inspect(with)
	if err != nil {
		t.Fatal(err)
	}
	terms, hasTerms, err := keys.TermsOf(with)
	if err != nil {
		t.Fatal(err)
	}
	if col.Search == 0 {
		if hasTerms || info.TermVersion != 0 || !bytes.HasPrefix(with, []byte(keys.Prefix)) {
			t.Fatalf("%s: a column without search got terms: %.40s", name, with)
		}
		return
	}
	if !hasTerms || info.TermVersion != col.SearchKeyVersion || !strings.HasPrefix(string(with), keys.TermsPrefix) {
		t.Fatalf("%s: no terms (term version %d): %.40s", name, info.TermVersion, with)
	}
	want := expectedTerms(t, c, col, canon)
	if !bytes.Equal(terms.Eq, want.Eq) || !bytes.Equal(terms.Ord, want.Ord) || terms.Prefix != want.Prefix ||
		strings.Join(terms.Match, ".") != strings.Join(want.Match, ".") {
		t.Fatalf("%s: terms %+v, want %+v", name, terms, want)
	}
}

// expectedTerms computes col's terms from the exported inputs and keys,
// independently of CellTerms: with the column key, whatever the sealing.
func expectedTerms(t *testing.T, c *cellcipher.Cipher, col *policy.ProtectedColumn, canon []byte) keys.CellTerms {
	t.Helper()
	tk, err := cellcipher.TermKeys(c.Keyring, col, col.SearchKeyVersion)
	if err != nil {
		t.Fatal(err)
	}
	var want keys.CellTerms
	if col.Search.Has(policy.SearchEquality) {
		q, err := cellcipher.EqualityInput(col, canon)
		if err != nil {
			t.Fatal(err)
		}
		want.Eq = tk.Eq(q)
	}
	if col.Search.Has(policy.SearchOrder) {
		s, err := cellcipher.OrderInput(col, nil, canon)
		if err != nil {
			t.Fatal(err)
		}
		if want.Ord, err = tk.Ord(s); err != nil {
			t.Fatal(err)
		}
	}
	if col.Search.Has(policy.SearchMatch) {
		n, err := cellcipher.MatchInput(col, nil, canon)
		if err != nil {
			t.Fatal(err)
		}
		want.Match = cellcipher.MatchTokens(tk, n)
		if col.Search.Has(policy.SearchOrder) {
			want.Prefix = cellcipher.PrefixToken(tk, n)
		}
	}
	return want
}

// TestTermsKeyedByColumnNotSubject: two subjects' cells of one value have
// different ciphertexts but the same terms (the front desk searches every
// patient); after a shred nothing new is sealed for the subject, and its
// old cell with terms reads as shredded.
func TestTermsKeyedByColumnNotSubject(t *testing.T) {
	pol, c := searchSetup(t)
	ctx := context.Background()
	col := column(t, pol, "people", "last")
	a, err := c.SealWithTerms(ctx, col, nil, []byte("Gleason"), []byte("p-1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.SealWithTerms(ctx, col, nil, []byte("Gleason"), []byte("p-2"))
	if err != nil {
		t.Fatal(err)
	}
	ta, _, _ := keys.TermsOf(a)
	tb, _, _ := keys.TermsOf(b)
	if !bytes.Equal(ta.Ord, tb.Ord) || ta.Prefix != tb.Prefix || strings.Join(ta.Match, ".") != strings.Join(tb.Match, ".") {
		t.Fatal("two subjects' terms of one value differ")
	}
	if !c.Subjects.SealedFor(a, []byte("p-1")) || c.Subjects.SealedFor(a, []byte("p-2")) {
		t.Fatal("SealedFor misreads a subject cell with terms")
	}
	if _, _, err := c.Subjects.Shred(ctx, "p-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SealWithTerms(ctx, col, nil, []byte("Gleason"), []byte("p-1")); !errors.Is(err, keys.ErrShredded) {
		t.Fatalf("sealing for a shredded subject: %v", err)
	}
	if _, state, err := c.Open(ctx, col, a); err != nil || state != cellcipher.Shredded {
		t.Fatalf("a shredded subject's cell with terms: %v %v", state, err)
	}
	if _, err := c.SealWithTerms(ctx, col, nil, []byte("Gleason"), nil); !errors.Is(err, cellcipher.ErrNoSubject) {
		t.Fatalf("no subject: %v", err)
	}
}

// TestDeterministicTermsCellsStayEqual: a deterministic column with terms
// keeps one cell text per value, in every column sharing its key, so =,
// IN, joins and UNIQUE keep working on whole cells (design §4.7).
func TestDeterministicTermsCellsStayEqual(t *testing.T) {
	pol, c := searchSetup(t)
	ctx := context.Background()
	a := column(t, pol, "people", "mrn")
	b := column(t, pol, "visits", "mrn")
	x1, err := c.SealWithTerms(ctx, a, nil, []byte("MRN-0042"), []byte("p-1"))
	if err != nil {
		t.Fatal(err)
	}
	x2, _ := c.SealWithTerms(ctx, a, nil, []byte("MRN-0042"), []byte("p-2"))
	x3, _ := c.SealWithTerms(ctx, b, nil, []byte("MRN-0042"), nil)
	y, _ := c.SealWithTerms(ctx, b, nil, []byte("MRN-0043"), nil)
	if !bytes.Equal(x1, x2) || !bytes.Equal(x1, x3) || bytes.Equal(x1, y) {
		t.Fatalf("deterministic cells with terms: %v %v %v", bytes.Equal(x1, x2), bytes.Equal(x1, x3), bytes.Equal(x1, y))
	}
}

// TestSealWithTermsRefuses: a search_key_version not loaded refuses the
// write rather than writing a cell without terms.
func TestSealWithTermsRefuses(t *testing.T) {
	pol, c := searchSetup(t)
	col := *column(t, pol, "visits", "t_text")
	col.SearchKeyVersion = 9
	_, err := c.SealWithTerms(context.Background(), &col, nil, []byte("x"), nil)
	if !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("version 9: %v", err)
	}
	if strings.Contains(err.Error(), "x\"") {
		t.Fatalf("the error names the value: %v", err)
	}
}

// TestPolicyAgreesWithTermInputs: every term the policy accepts on a type
// can be computed, and every term it refuses for the type cannot.
func TestPolicyAgreesWithTermInputs(t *testing.T) {
	for _, name := range append(policy.TypeNames(), "text[]", "date[]") {
		typ, err := policy.ParseType(name)
		if err != nil {
			t.Fatal(err)
		}
		col := &policy.ProtectedColumn{Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "t"}}, Name: "c", Type: typ}
		_, orderOK := cellcipher.OrderWidth(typ)
		_, matchErr := cellcipher.MatchInput(col, nil, []byte("abc"))
		matchOK := !errors.Is(matchErr, cellcipher.ErrNoTerm)
		if policy.SearchTermAllowed(typ, policy.ModeRandomized, policy.SearchOrder) != orderOK ||
			policy.SearchTermAllowed(typ, policy.ModeRandomized, policy.SearchEquality) != orderOK ||
			policy.SearchTermAllowed(typ, policy.ModeRandomized, policy.SearchMatch) != matchOK {
			t.Errorf("%s: policy and cellcipher disagree (order/equality %v, match %v)", name, orderOK, matchOK)
		}
	}
}

// TestSealWithTermsUsesCollation: the order and match terms of text follow
// the collation passed (en_US: strxfrm's first level), not bytes.
func TestSealWithTermsUsesCollation(t *testing.T) {
	loc := openLocale(t, "en_US.utf8")
	pol, c := searchSetup(t)
	col := column(t, pol, "visits", "d_text")
	cell, err := c.SealWithTerms(context.Background(), col, loc, []byte("Gleason"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := keys.TermsOf(cell)
	tk, _ := cellcipher.TermKeys(c.Keyring, col, 1)
	sLoc, _ := cellcipher.OrderInput(col, loc, []byte("Gleason"))
	sC, _ := cellcipher.OrderInput(col, nil, []byte("Gleason"))
	want, _ := tk.Ord(sLoc)
	bytesOrd, _ := tk.Ord(sC)
	if !bytes.Equal(got.Ord, want) || bytes.Equal(got.Ord, bytesOrd) {
		t.Fatalf("order term not under en_US (equal to the locale's %v, to bytes' %v)", bytes.Equal(got.Ord, want), bytes.Equal(got.Ord, bytesOrd))
	}
}

// BenchmarkSealWithTerms seals a 10-character name in a column with
// order and match (the design's `last`), and without terms.
func BenchmarkSealWithTerms(b *testing.B) {
	pol, c := searchSetup(b)
	ctx := context.Background()
	col, _ := pol.Column("public", "visits", "d_text")
	plain, _ := pol.Column("public", "visits", "plain")
	for name, col := range map[string]*policy.ProtectedColumn{"order+match": col, "none": plain} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.SealWithTerms(ctx, col, nil, []byte("Gleason123"), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenIntoTerms opens, as the proxy opens each cell of a held
// row, a 10-character name sealed with order and match terms (the
// design's `last`: ~200 characters, 10 match tokens), and the same name
// without terms.
func BenchmarkOpenIntoTerms(b *testing.B) {
	pol, c := searchSetup(b)
	ctx := context.Background()
	col, _ := pol.Column("public", "visits", "d_text")
	plain, _ := pol.Column("public", "visits", "plain")
	for name, col := range map[string]*policy.ProtectedColumn{"order+match": col, "none": plain} {
		cell, err := c.SealWithTerms(ctx, col, nil, []byte("Gleason123"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			var s keys.Scratch
			var dst []byte
			b.ReportAllocs()
			for b.Loop() {
				out, state, err := c.OpenInto(ctx, &s, dst, col, cell)
				if err != nil || state != cellcipher.Opened {
					b.Fatal(state, err)
				}
				dst = out[:0]
			}
		})
	}
}
