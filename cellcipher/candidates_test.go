package cellcipher_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// TestEqualityCandidatesWithTerms: a deterministic column with `search`
// is compared with the cell SealWithTerms writes (first) and with the
// format-1 cell written before the column had `search`, under each live
// version; both columns of one deterministic key get the same texts; a
// column without `search` gets exactly the keyring's candidates.
func TestEqualityCandidatesWithTerms(t *testing.T) {
	pol, c := searchSetup(t)
	ctx := context.Background()
	col := func(table, name string) *policy.ProtectedColumn {
		cc, ok := pol.Column("public", table, name)
		if !ok {
			t.Fatalf("no column %s.%s", table, name)
		}
		return cc
	}
	mrn := col("visits", "mrn")
	canon := []byte("MRN-0042")
	cands, err := c.EqualityCandidates(mrn, nil, canon)
	if err != nil {
		t.Fatal(err)
	}
	if cellcipher.CandidatesPerVersion(mrn) != 2 || len(cands) != 2 {
		t.Fatalf("%d candidates for one version, want 2", len(cands))
	}
	written, err := c.SealWithTerms(ctx, mrn, nil, canon, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := c.Seal(ctx, mrn, canon, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cands[0], written) || !bytes.Equal(cands[1], v1) {
		t.Fatalf("candidates %q, want the written cell %q then the format-1 cell %q", cands, written, v1)
	}
	if !bytes.HasPrefix(cands[0], []byte(keys.TermsPrefix)) || !bytes.HasPrefix(cands[1], []byte(keys.Prefix)) {
		t.Fatalf("candidate formats: %q", cands)
	}
	other, err := c.EqualityCandidates(col("people", "mrn"), nil, canon)
	if err != nil || len(other) != 2 || !bytes.Equal(other[0], cands[0]) || !bytes.Equal(other[1], cands[1]) {
		t.Fatalf("the key's other column: %q (%v), want %q", other, err, cands)
	}
	for _, cand := range cands {
		got, err := c.Keyring.Decrypt(cellcipher.AssociatedData(mrn), cand)
		if err != nil || string(got) != string(canon) {
			t.Fatalf("a candidate opens to %q (%v)", got, err)
		}
	}

	// No search: the keyring's candidates, one per version.
	plain := &policy.ProtectedColumn{}
	*plain = *mrn
	plain.Search, plain.SearchKeyVersion = 0, 0
	bare, err := c.EqualityCandidates(plain, nil, canon)
	if err != nil || len(bare) != 1 || !bytes.Equal(bare[0], v1) || cellcipher.CandidatesPerVersion(plain) != 1 {
		t.Fatalf("without search: %q (%v)", bare, err)
	}
	// Ready (refused by policy today, but the rule is the design's): the
	// terms' texts only.
	ready := *mrn
	ready.SearchState = policy.SearchReady
	if got, err := c.EqualityCandidates(&ready, nil, canon); err != nil || len(got) != 1 || !bytes.Equal(got[0], written) {
		t.Fatalf("ready: %q (%v)", got, err)
	}
}

// TestEqualityCandidatesTwoVersions: during a rotation, the write
// version's texts come first, then the older version's, each with terms
// first; the terms are the same under both (they derive from
// search_key_version, not the cell key's version).
func TestEqualityCandidatesTwoVersions(t *testing.T) {
	pol, err := policy.Parse([]byte(searchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	var dks []keys.DataKey
	for _, id := range []string{"k-pii", "k-mrn", "k-det", "k-det2", "k-det3"} {
		for v := uint32(1); v <= 2; v++ {
			dk, err := keys.GenerateDataKey(id, v, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			dks = append(dks, dk)
		}
	}
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	c := &cellcipher.Cipher{Keyring: kr}
	mrn, _ := pol.Column("public", "visits", "mrn")
	cands, err := c.EqualityCandidates(mrn, nil, []byte("MRN-7"))
	if err != nil || len(cands) != 4 {
		t.Fatalf("%d candidates (%v), want 4", len(cands), err)
	}
	plain, err := kr.EqualityCandidates("k-mrn", cellcipher.AssociatedData(mrn), []byte("MRN-7"))
	if err != nil {
		t.Fatal(err)
	}
	var termsOf [2]keys.CellTerms
	for i, v := range []int{0, 1} {
		if !bytes.Equal(cands[2*i+1], plain[v]) {
			t.Errorf("candidate %d is not version rank %d's format-1 cell", 2*i+1, v)
		}
		terms, ok, err := keys.TermsOf(cands[2*i])
		if err != nil || !ok {
			t.Fatalf("candidate %d: no terms (%v)", 2*i, err)
		}
		termsOf[i] = terms
		if again, err := keys.WithTerms(plain[v], terms); err != nil || !bytes.Equal(again, cands[2*i]) {
			t.Errorf("candidate %d is not version rank %d's cell with terms", 2*i, v)
		}
	}
	if !bytes.Equal(termsOf[0].Ord, termsOf[1].Ord) || termsOf[0].Prefix != termsOf[1].Prefix || len(termsOf[0].Ord) == 0 {
		t.Errorf("the terms differ between key versions")
	}
}
