package backfill

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/search"
)

// rekeyColumns is termColumns during a change of search_key_version to 2
// (docs/design/search-terms.md §5.3).
var rekeyColumns = strings.NewReplacer(
	"search_key_version: 1}", "search_key_version: 2, search_state: rekeying, state: encrypted}").Replace(termColumns)

// TestTermsRekeying: after a term-key change (search_key_version 1 -> 2,
// `rekeying`), phiguard encrypt rewrites every cell's terms to version 2
// and keeps its ciphertext; killed after 2 batches, the census counts
// both versions (TermVersions and old/current), and the resumed run
// finishes, says the change is done and names search_state: ready and
// keys retire; every cell then carries the Go-computed terms of version 2.
func TestTermsRekeying(t *testing.T) {
	f := startTerms(t)
	ctx := context.Background()
	n := int64(f.n)
	f.pol = mustPolicy(t, termColumns)
	if _, _, err := f.run(t, ctx, Encrypt, nil); err != nil {
		t.Fatal(err)
	}
	before := f.readCells(t)
	f.rotate(t, "patients-pii")
	f.pol = mustPolicy(t, rekeyColumns)
	kctx, kill := context.WithCancel(ctx)
	batches := 0
	s1, _, err := f.run(t, kctx, Encrypt, func(Progress) {
		if batches++; batches == 2 {
			kill()
		}
	})
	kill()
	if !errors.Is(err, context.Canceled) || s1.Tables[0].Changed != 2000 {
		t.Fatalf("killed run: %v, %d changed", err, s1.Tables[0].Changed)
	}
	dry, err := Run(ctx, f.conn, Options{Op: Encrypt, Policy: f.pol, Keyring: f.keyring(t), DryRun: true, Table: "patients"})
	if err != nil {
		t.Fatal(err)
	}
	cs := censusOf(t, dry, "first")
	if cs.TermVersions[1] == 0 || cs.TermVersions[2] < 2000 || cs.TermVersions[1]+cs.TermVersions[2] != n || cs.Terms.Old != cs.TermVersions[1] || cs.Terms.Current != cs.TermVersions[2] {
		t.Errorf("half-way census: %s, term versions %v", cs, cs.TermVersions)
	}
	s2, notes, err := f.run(t, ctx, Encrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"first", "birthdate"} {
		cs := censusOf(t, s2, col)
		if *cs.Terms != (TermsCensus{Current: n}) || cs.TermVersions[2] != n || cs.TermVersions[1] != 0 || cs.Versions[1] != n {
			t.Errorf("%s after the change: %s, term versions %v", col, cs, cs.TermVersions)
		}
		if !strings.Contains(notes, "public.patients."+col+": every cell carries search terms of version 2") || !strings.Contains(notes, "term-key change is done; set search_state: ready") {
			t.Errorf("notes lack the end of the change for %s:\n%s", col, notes)
		}
	}
	kr := f.keyring(t)
	first, _ := f.pol.Column("public", "patients", "first")
	birth, _ := f.pol.Column("public", "patients", "birthdate")
	c := &cellcipher.Cipher{Keyring: kr}
	coll, err := search.ColumnCollation(ctx, f.conn, first)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := coll.Locale(first)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for id, v := range f.readCells(t) {
		for i, col := range [2]string{"first", "birthdate"} {
			_, b0 := cellParts(before[id][i])
			_, b1 := cellParts(v[i])
			got, ok, err := keys.TermsOf([]byte(v[i]))
			want := terms(t, c, first, loc, f.orig[id][1])
			if col == "birthdate" {
				want = terms(t, c, birth, nil, f.orig[id][2])
			}
			if b0 != b1 || !ok || err != nil || !sameTerms(got, want) || got.Version != 2 {
				if bad++; bad < 4 {
					t.Errorf("patient %s %s: B kept %v, terms %+v", id, col, b0 == b1, got)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d cells wrong", bad)
	}
}
