package backfill

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/search"
)

// TestShredTermsFoundByNoOldTerm: after a subject's key is destroyed,
// ShredTerms gives the subject's cells the shredded marker's terms (text)
// or none (date), and the database then finds the row by no term of its
// old value: equality, order, prefix and every match token, each queried
// directly with the terms Go computes (each found the row before). Other
// patients' cells are untouched, the ciphertext is kept, a second run
// writes nothing (the resume of `shred --terms-only`), and a subject
// whose key is not destroyed keeps its terms.
func TestShredTermsFoundByNoOldTerm(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	withTerms := mustPolicy(t, strings.NewReplacer(
		"type: text}\n      birthdate", "type: text, search: [equality, order, match], search_key_version: 1}\n      birthdate",
		"type: date}", "type: date, search: [equality, order], search_key_version: 1}").Replace(subjectColumns))
	prov, err := local.New(filepath.Join(t.TempDir(), "keyring.json"), keys.NewSecret(bytes.Repeat([]byte{7}, local.MasterKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Init(ctx, []string{"patients-ssn", "patients-pii", keys.SubjectKeyID}); err != nil {
		t.Fatal(err)
	}
	kr, err := prov.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newSK := func() *keys.SubjectKeys {
		sk, err := keys.NewSubjectKeys(kr, prov, keys.SubjectKeysOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sk
	}
	const marker = "[shredded]"
	if _, err := Run(ctx, f.conn, Options{Op: Encrypt, Policy: withTerms, Keyring: kr, Subjects: newSK(), Table: "patients", Batch: testBatch, ShreddedMarker: marker}); err != nil {
		t.Fatal(err)
	}
	if err := search.Install(ctx, f.conn, search.Options{Policy: withTerms}); err != nil {
		t.Fatal(err)
	}
	first, _ := withTerms.Column("public", "patients", "first")
	birth, _ := withTerms.Column("public", "patients", "birthdate")
	coll, err := search.ColumnCollation(ctx, f.conn, first)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := coll.Locale(first)
	if err != nil {
		t.Fatal(err)
	}
	var victim, spared string
	if err := f.conn.QueryRow(ctx, "SELECT min(id::text), max(id::text) FROM patients").Scan(&victim, &spared); err != nil {
		t.Fatal(err)
	}
	c := &cellcipher.Cipher{Keyring: kr}
	ft, bt := terms(t, c, first, loc, f.orig[victim][1]), terms(t, c, birth, nil, f.orig[victim][2])
	probes := []struct {
		name, where string
		arg         any
	}{
		{"first equality", "phiguard.term_eq_v1(first) = $2", ft.Eq},
		{"first order", "phiguard.term_ord_v1(first) = $2", ft.Ord},
		{"first order range", "phiguard.term_ord_v1(first) BETWEEN $2 AND $2", ft.Ord},
		{"first prefix", "phiguard.term_pre_v1(first) = $2", []byte(ft.Prefix)},
		{"birthdate equality", "phiguard.term_eq_v1(birthdate) = $2", bt.Eq},
		{"birthdate order", "phiguard.term_ord_v1(birthdate) = $2", bt.Ord},
	}
	for _, tok := range ft.Match {
		probes = append(probes, struct {
			name, where string
			arg         any
		}{"first match token", "phiguard.term_match_v1(first) @> ARRAY[$2::bytea]", []byte(tok)})
	}
	found := func() (hits []string) {
		t.Helper()
		for _, p := range probes {
			var n int
			if err := f.conn.QueryRow(ctx, "SELECT count(*) FROM patients WHERE id::text = $1 AND "+p.where, victim, p.arg).Scan(&n); err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if n > 0 {
				hits = append(hits, p.name)
			}
		}
		return hits
	}
	if hits := found(); len(hits) != len(probes) || len(ft.Match) == 0 {
		t.Fatalf("before the shred the old terms find the row by %d of %d probes (%v)", len(hits), len(probes), hits)
	}
	before := f.readCells(t)

	shred := func(subject string) int64 {
		t.Helper()
		r, err := ShredTerms(ctx, f.conn, Options{Policy: withTerms, Keyring: kr, Subjects: newSK(), ShreddedMarker: marker}, subject)
		if err != nil {
			t.Fatal(err)
		}
		return r.Cells
	}
	if n := shred(spared); n != 0 {
		t.Errorf("a subject whose key is live: %d cells rewritten", n)
	}
	if _, out, err := newSK().Shred(ctx, victim); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("shred: %v %v", out, err)
	}
	if n := shred(strings.ToUpper(victim)); n != 2 {
		t.Fatalf("terms rewritten: %d cells, want 2", n)
	}
	if hits := found(); len(hits) > 0 {
		t.Errorf("after the shred the old terms still find the row by %v", hits)
	}
	after := f.readCells(t)
	for id, v := range after {
		for i := range v {
			_, b0 := cellParts(before[id][i])
			_, b1 := cellParts(v[i])
			if id != victim && v[i] != before[id][i] || b0 != b1 {
				t.Errorf("patient %s column %d changed beyond the victim's terms", id, i)
			}
		}
	}
	got, _, _ := keys.TermsOf([]byte(after[victim][0]))
	if want := terms(t, c, first, loc, marker); !sameTerms(got, want) {
		t.Errorf("the victim's first carries %+v, want the marker's terms", got)
	}
	if got, _, _ := keys.TermsOf([]byte(after[victim][1])); !sameTerms(got, keys.CellTerms{Version: 1}) {
		t.Errorf("the victim's birthdate carries %+v, want none", got)
	}
	if n := shred(victim); n != 0 {
		t.Errorf("a second run rewrote %d cells", n)
	}
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := ShredTerms(ctx, conn, Options{Policy: withTerms, Keyring: kr, ShreddedMarker: marker}, victim); err == nil {
		t.Error("ShredTerms without subject keys did not refuse")
	}
}
