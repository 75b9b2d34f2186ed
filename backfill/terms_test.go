package backfill

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
)

// termColumns is threeColumns with search terms on the two randomized
// columns: first (text, order and match, under en_US.utf8 in these
// tests) and birthdate (date, equality and order).
const termColumns = `
version: 1
tables:
  public.patients:
    columns:
      ssn:       {mode: deterministic, key: patients-ssn, type: text}
      first:     {mode: randomized,    key: patients-pii, type: text, search: [order, match], search_key_version: 1}
      birthdate: {mode: randomized,    key: patients-pii, type: date, search: [equality, order], search_key_version: 1}
`

func mustPolicy(t *testing.T, src string) *policy.Policy {
	t.Helper()
	pol, err := policy.Parse([]byte(src))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// startTerms is start with first under a libc locale, so that its terms
// depend on the collation the backfill reads from the catalog.
func startTerms(t *testing.T) *fixture {
	f := start(t)
	if _, err := f.conn.Exec(context.Background(), `ALTER TABLE patients ALTER COLUMN first TYPE text COLLATE "en_US.utf8"`); err != nil {
		t.Fatalf("en_US.utf8 (the tests of the order terms need it): %v", err)
	}
	return f
}

// cellParts splits a cell into its term sections (everything before B,
// "" for a format-1 cell) and B.
func cellParts(v string) (terms, b string) {
	i := strings.LastIndexByte(v, '~')
	if strings.HasPrefix(v, keys.Prefix) {
		return "", v[len(keys.Prefix):]
	}
	return v[:i], v[i+1:]
}

// readCells returns each row's first and birthdate cells by id.
func (f *fixture) readCells(t *testing.T) map[string][2]string {
	t.Helper()
	rows, err := f.conn.Query(context.Background(), "SELECT id::text, first, birthdate FROM patients")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	for rows.Next() {
		var id string
		var v [2]string
		if err := rows.Scan(&id, &v[0], &v[1]); err != nil {
			t.Fatal(err)
		}
		out[id] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkTerms installs the extraction functions (search.Install) and
// compares, for every row, what the database extracts from the cells
// with the terms Go computes from the row's original plaintext under
// the column's collation: they must be equal byte for byte.
func (f *fixture) checkTerms(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := search.Install(ctx, f.conn, search.Options{Policy: f.pol}); err != nil {
		t.Fatal(err)
	}
	first, _ := f.pol.Column("public", "patients", "first")
	birth, _ := f.pol.Column("public", "patients", "birthdate")
	coll, err := search.ColumnCollation(ctx, f.conn, first)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := coll.Locale(first)
	if err != nil || loc == nil || loc.Name() != "en_US.utf8" {
		t.Fatalf("first's locale %v, %v", loc, err)
	}
	c := &cellcipher.Cipher{Keyring: f.keyring(t)}
	rows, err := f.conn.Query(ctx, `SELECT id::text,
		coalesce(encode(phiguard.term_ord_v1(first), 'hex'), ''),
		coalesce(encode(phiguard.term_pre_v1(first), 'hex'), ''),
		coalesce(array_to_string(ARRAY(SELECT encode(x, 'hex') FROM unnest(phiguard.term_match_v1(first)) AS x ORDER BY 1), ','), ''),
		coalesce(encode(phiguard.term_eq_v1(first), 'hex'), ''),
		coalesce(encode(phiguard.term_eq_v1(birthdate), 'hex'), ''),
		coalesce(encode(phiguard.term_ord_v1(birthdate), 'hex'), ''),
		coalesce(encode(phiguard.term_pre_v1(birthdate), 'hex'), '') || coalesce(array_to_string(phiguard.term_match_v1(birthdate), ','), '')
		FROM patients`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen, bad := 0, 0
	for rows.Next() {
		var id string
		var got [7]string
		if err := rows.Scan(&id, &got[0], &got[1], &got[2], &got[3], &got[4], &got[5], &got[6]); err != nil {
			t.Fatal(err)
		}
		seen++
		ft := terms(t, c, first, loc, f.orig[id][1])
		bt := terms(t, c, birth, nil, f.orig[id][2])
		var toks []string
		for _, tok := range ft.Match {
			toks = append(toks, hex.EncodeToString([]byte(tok)))
		}
		slices.Sort(toks)
		want := [7]string{hex.EncodeToString(ft.Ord), hex.EncodeToString([]byte(ft.Prefix)), strings.Join(toks, ","), "",
			hex.EncodeToString(bt.Eq), hex.EncodeToString(bt.Ord), ""}
		if got != want || len(ft.Ord) == 0 || len(bt.Eq) == 0 {
			if bad++; bad < 4 {
				t.Errorf("patient %s: the database extracts %q, Go computes %q", id, got, want)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != f.n || bad > 0 {
		t.Errorf("%d of %d rows' terms differ", bad, seen)
	}
}

func terms(t *testing.T, c *cellcipher.Cipher, col *policy.ProtectedColumn, loc *pgcollate.Locale, v string) keys.CellTerms {
	t.Helper()
	canon, err := cellcipher.Canonical(col, 0, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := c.CellTerms(col, loc, canon)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func censusOf(t *testing.T, s *Summary, col string) Census {
	t.Helper()
	cs := s.Tables[0].Census[col]
	if cs.Terms == nil {
		t.Fatalf("%s: no terms census", col)
	}
	return cs
}

// TestTermsBackfillKillResumeReencrypt: an encrypt of a table with search
// columns, killed after three batches and resumed, writes every cell once
// with its terms; the cells decrypt to the original values; the
// extraction functions read exactly the Go-computed terms; the census
// counts them (and agrees with search.CountTerms); a re-encryption after
// a rotation keeps every term section unchanged.
func TestTermsBackfillKillResumeReencrypt(t *testing.T) {
	f := startTerms(t)
	f.pol = mustPolicy(t, termColumns)
	ctx := context.Background()
	n := int64(f.n)

	kctx, kill := context.WithCancel(ctx)
	batches := 0
	s1, _, err := f.run(t, kctx, Encrypt, func(Progress) {
		if batches++; batches == 3 {
			kill()
		}
	})
	kill()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: %v", err)
	}
	var withTerms int64
	f.conn.QueryRow(ctx, "SELECT count(*) FROM patients WHERE first LIKE '~phs~%' AND birthdate LIKE '~phs~%'").Scan(&withTerms)
	if s1.Tables[0].Changed != 3000 || withTerms < 3000 || withTerms > 7000 {
		t.Fatalf("killed run: %d changed, %d rows with terms; want 3000, 3000 to 7000", s1.Tables[0].Changed, withTerms)
	}
	s2, notes, err := f.run(t, ctx, Encrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := s2.Tables[0]; !r.Resumed || r.Changed+withTerms != n {
		t.Errorf("resumed run: resumed %v, changed %d + %d before; want every row written once", r.Resumed, r.Changed, withTerms)
	}
	f.checkCells(t, map[string]uint32{"patients-ssn": 1, "patients-pii": 1})
	for _, col := range []string{"first", "birthdate"} {
		cs := censusOf(t, s2, col)
		if *cs.Terms != (TermsCensus{Current: n}) || cs.Versions[1] != n {
			t.Errorf("%s: census %s, want %d current terms", col, cs, n)
		}
		pc, _ := f.pol.Column("public", "patients", col)
		tc, err := search.CountTerms(ctx, f.conn, pc)
		if err != nil || tc != (search.TermCount{Current: n}) {
			t.Errorf("%s: search.CountTerms %+v (%v)", col, tc, err)
		}
	}
	if !strings.Contains(notes, "public.patients.first: every cell carries search terms of version 1") {
		t.Errorf("notes do not say the terms are complete:\n%s", notes)
	}
	if s2.Tables[0].Census["ssn"].Terms != nil {
		t.Error("ssn (no search) has a terms census")
	}
	f.checkTerms(t)

	// Rotation: re-encryption re-seals B under v2 and keeps the terms.
	before := f.readCells(t)
	f.rotate(t, "patients-pii")
	s3, _, err := f.run(t, ctx, Reencrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s3.Tables[0].Changed != n {
		t.Errorf("reencrypt changed %d rows, want %d", s3.Tables[0].Changed, n)
	}
	f.checkCells(t, map[string]uint32{"patients-ssn": 1, "patients-pii": 2})
	kept := 0
	for id, now := range f.readCells(t) {
		for i := range now {
			ta, ba := cellParts(before[id][i])
			tb, bb := cellParts(now[i])
			if ta == tb && ta != "" && ba != bb {
				kept++
			}
		}
	}
	if kept != 2*f.n {
		t.Errorf("re-encryption kept the terms (with a new B) of %d of %d cells", kept, 2*f.n)
	}
	f.checkTerms(t)
}

// TestTermsCensusRewriteRebuild: cells without terms and with terms of
// another version are counted apart and get their terms on the next
// encrypt without re-encryption (B unchanged); a cell given another
// row's terms in the database looks current and is left alone, until
// --rebuild-terms recomputes it; with search removed, --rebuild-terms
// strips the terms; a column gaining search gets them on every cell, a
// deterministic one too; and an ICU collation is refused.
func TestTermsCensusRewriteRebuild(t *testing.T) {
	f := startTerms(t)
	ctx := context.Background()
	n := int64(f.n)
	// Encrypted first without terms: the columns gain search afterwards.
	if _, _, err := f.run(t, ctx, Encrypt, nil); err != nil {
		t.Fatal(err)
	}
	v1 := f.readCells(t)
	f.pol = mustPolicy(t, termColumns)
	s, _, err := f.run(t, ctx, Encrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Tables[0].Changed != n {
		t.Errorf("gaining search: %d rows written, want %d", s.Tables[0].Changed, n)
	}
	now := f.readCells(t)
	sameB := 0
	for id := range now {
		for i := range now[id] {
			_, b1 := cellParts(v1[id][i])
			tn, b2 := cellParts(now[id][i])
			if b1 == b2 && tn != "" {
				sameB++
			}
		}
	}
	if sameB != 2*f.n {
		t.Errorf("%d of %d cells got terms with their ciphertext unchanged", sameB, 2*f.n)
	}
	f.checkTerms(t)

	// 100 cells lose their terms, 50 get another term version.
	for _, q := range []string{
		`UPDATE patients SET first = '~phg~' || split_part(first, '~', 8) WHERE id IN (SELECT id FROM patients ORDER BY id LIMIT 100)`,
		`UPDATE patients SET first = regexp_replace(first, '^~phs~1~', '~phs~2~') WHERE id IN (SELECT id FROM patients ORDER BY id DESC LIMIT 50)`,
	} {
		if _, err := f.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	dry, err := Run(ctx, f.conn, Options{Op: Encrypt, Policy: f.pol, Keyring: f.keyring(t), DryRun: true, Table: "patients"})
	if err != nil {
		t.Fatal(err)
	}
	if cs := censusOf(t, dry, "first"); *cs.Terms != (TermsCensus{Current: n - 150, Missing: 100, Old: 50}) || dry.Tables[0].Pending != 150 {
		t.Errorf("census %s, %d pending; want current %d, missing 100, old 50; 150 pending", cs, dry.Tables[0].Pending, n-150)
	}
	first, _ := f.pol.Column("public", "patients", "first")
	if tc, err := search.CountTerms(ctx, f.conn, first); err != nil || tc != (search.TermCount{Current: n - 150, OldVersion: 50, Without: 100}) {
		t.Errorf("search.CountTerms %+v (%v)", tc, err)
	}
	s, _, err = f.run(t, ctx, Encrypt, nil)
	if err != nil || s.Tables[0].Changed != 150 || !censusOf(t, s, "first").Terms.Complete() {
		t.Fatalf("rewrite: %v, %d changed, census %s", err, s.Tables[0].Changed, censusOf(t, s, "first"))
	}
	f.checkCells(t, map[string]uint32{"patients-ssn": 1, "patients-pii": 1})
	f.checkTerms(t)

	// Two rows swap their terms: they look current.
	if _, err := f.conn.Exec(ctx, `WITH a AS (SELECT id, first FROM patients ORDER BY id LIMIT 2),
		s AS (SELECT a.id, (SELECT regexp_replace(o.first, '~[^~]*$', '') FROM a o WHERE o.id <> a.id) || substring(a.first from '~[^~]*$') AS v FROM a)
		UPDATE patients p SET first = s.v FROM s WHERE p.id = s.id`); err != nil {
		t.Fatal(err)
	}
	if s, _, err = f.run(t, ctx, Encrypt, nil); err != nil || s.Tables[0].Changed != 0 {
		t.Fatalf("swapped terms look current, yet encrypt wrote %d rows (%v)", s.Tables[0].Changed, err)
	}
	var notes bytes.Buffer
	s, err = Run(ctx, f.conn, Options{Op: Encrypt, Policy: f.pol, Keyring: f.keyring(t), Table: "patients", RebuildTerms: true, Notes: &notes})
	if err != nil || s.Tables[0].Changed != 2 {
		t.Fatalf("rebuild-terms: %v, %d rows written, want the 2 swapped", err, s.Tables[0].Changed)
	}
	f.checkTerms(t)

	// search removed from birthdate: --rebuild-terms strips its terms.
	f.pol = mustPolicy(t, strings.Replace(termColumns, "type: date, search: [equality, order], search_key_version: 1", "type: date", 1))
	s, err = Run(ctx, f.conn, Options{Op: Encrypt, Policy: f.pol, Keyring: f.keyring(t), Table: "patients", RebuildTerms: true})
	if err != nil || s.Tables[0].Changed != n {
		t.Fatalf("strip: %v, %d rows written", err, s.Tables[0].Changed)
	}
	var left int64
	f.conn.QueryRow(ctx, "SELECT count(*) FROM patients WHERE birthdate NOT LIKE '~phg~%'").Scan(&left)
	if left != 0 {
		t.Errorf("%d birthdate cells still carry terms", left)
	}
	f.checkCells(t, map[string]uint32{"patients-ssn": 1, "patients-pii": 1})

	// A deterministic column gaining search gets terms on every cell
	// (integration.TestBackfilledDeterministicTermsFoundByEquality finds
	// them through phiguard's equality).
	f.pol = mustPolicy(t, strings.Replace(termColumns, "type: text}", "type: text, search: [order, match], search_key_version: 1}", 1))
	if _, _, err := f.run(t, ctx, Encrypt, nil); err != nil {
		t.Fatalf("deterministic column with search: %v", err)
	}
	var without int64
	f.conn.QueryRow(ctx, "SELECT count(*) FROM patients WHERE ssn IS NOT NULL AND left(ssn, 5) <> '~phs~'").Scan(&without)
	if without != 0 {
		t.Errorf("%d ssn cells without terms after encrypt", without)
	}

	// Refusals.
	if _, err := f.conn.Exec(ctx, `CREATE COLLATION icu_en (provider = icu, locale = 'en-US');
		ALTER TABLE patients ALTER COLUMN first TYPE text COLLATE icu_en`); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.run(t, ctx, Encrypt, nil)
	if err == nil || !strings.Contains(err.Error(), "public.patients.first") || !strings.Contains(err.Error(), "ICU") {
		t.Errorf("encrypt under an ICU collation: %v", err)
	}
}
