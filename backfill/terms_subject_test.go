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
)

// TestTermsShreddedSubject: per-subject cells written before their
// columns had search get terms keyed by the column key, not the subject's
// (their ciphertext unchanged); a shredded subject's cells get the terms
// of the shredded marker (text) or none (date), never their old value's;
// --rebuild-terms finds them right and changes nothing.
func TestTermsShreddedSubject(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	n := int64(f.n)
	plain := mustPolicy(t, subjectColumns)
	withTerms := mustPolicy(t, strings.NewReplacer(
		"type: text}\n      birthdate", "type: text, search: [order, match], search_key_version: 1}\n      birthdate",
		"type: date}", "type: date, search: [order], search_key_version: 1}").Replace(subjectColumns))
	if c, _ := withTerms.Column("public", "patients", "birthdate"); c.Search == 0 {
		t.Fatal("the policy with terms has none")
	}
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
	run := func(o Options) TableResult {
		t.Helper()
		conn, err := pgx.Connect(ctx, f.url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		o.Op, o.Keyring, o.Subjects, o.Table, o.Batch, o.ShreddedMarker = Encrypt, kr, newSK(), "patients", testBatch, marker
		s, err := Run(ctx, conn, o)
		if err != nil {
			t.Fatal(err)
		}
		return s.Tables[0]
	}
	run(Options{Policy: plain})
	var victim string
	f.conn.QueryRow(ctx, "SELECT min(id::text) FROM patients").Scan(&victim)
	if _, out, err := newSK().Shred(ctx, victim); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("shred: %v %v", out, err)
	}
	before := f.readCells(t)

	r := run(Options{Policy: withTerms})
	if r.Changed != n || r.Shredded != 2 || *r.Census["first"].Terms != (TermsCensus{Current: n}) || *r.Census["birthdate"].Terms != (TermsCensus{Current: n}) {
		t.Fatalf("terms: %d changed, %d shredded, first %s, birthdate %s", r.Changed, r.Shredded, r.Census["first"], r.Census["birthdate"])
	}
	c := &cellcipher.Cipher{Keyring: kr}
	first, _ := withTerms.Column("public", "patients", "first")
	birth, _ := withTerms.Column("public", "patients", "birthdate")
	bad := 0
	for id, v := range f.readCells(t) {
		wantFirst, wantBirth := terms(t, c, first, nil, f.orig[id][1]), terms(t, c, birth, nil, f.orig[id][2])
		if id == victim {
			wantFirst, wantBirth = terms(t, c, first, nil, marker), keys.CellTerms{Version: 1}
		}
		for i, want := range []keys.CellTerms{wantFirst, wantBirth} {
			got, ok, err := keys.TermsOf([]byte(v[i]))
			_, b0 := cellParts(before[id][i])
			_, b1 := cellParts(v[i])
			if !ok || err != nil || !keys.IsSubjectCell([]byte(v[i])) || b0 != b1 || !sameTerms(got, want) {
				if bad++; bad < 4 {
					t.Errorf("patient %s column %d: terms %v (%v), subject cell %v, B kept %v", id, i, ok, err, keys.IsSubjectCell([]byte(v[i])), b0 == b1)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d cells with wrong terms", bad)
	}
	if r := run(Options{Policy: withTerms, RebuildTerms: true}); r.Changed != 0 {
		t.Errorf("rebuild after the terms were written changed %d rows", r.Changed)
	}
}

func sameTerms(a, b keys.CellTerms) bool {
	return a.Version == b.Version && bytes.Equal(a.Eq, b.Eq) && bytes.Equal(a.Ord, b.Ord) && a.Prefix == b.Prefix &&
		strings.Join(a.Match, ".") == strings.Join(b.Match, ".")
}
