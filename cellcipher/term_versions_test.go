package cellcipher_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// TestRekeyingCandidates: during a change of search_key_version (1 -> 2,
// `rekeying`), a deterministic column's value is looked for as a cell of
// each loaded cell version carrying the terms of each loaded term
// version, search_key_version's first, and as the format-1 cell:
// 2 cell versions x (2 term versions + 1) = 6 texts, CandidateCount says
// so, and a cell written with either version's terms is among them.
// TermVersions is search_key_version alone outside rekeying.
func TestRekeyingCandidates(t *testing.T) {
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
	base, _ := pol.Column("public", "visits", "mrn")
	if vs, err := cellcipher.TermVersions(kr, base); err != nil || len(vs) != 1 || vs[0] != base.SearchKeyVersion {
		t.Fatalf("TermVersions outside rekeying: %v (%v)", vs, err)
	}
	col := *base
	col.SearchKeyVersion, col.SearchState = 2, policy.SearchRekeying
	vs, err := cellcipher.TermVersions(kr, &col)
	if err != nil || len(vs) != 2 || vs[0] != 2 || vs[1] != 1 {
		t.Fatalf("TermVersions while rekeying to 2: %v (%v)", vs, err)
	}
	canon := []byte("MRN-7")
	cands, err := c.EqualityCandidates(&col, nil, canon)
	if n, cerr := cellcipher.CandidateCount(kr, &col); err != nil || cerr != nil || len(cands) != 6 || n != 6 {
		t.Fatalf("%d candidates (%v), CandidateCount %d (%v), want 6", len(cands), err, n, cerr)
	}
	plain, _ := kr.EqualityCandidates("k-mrn", cellcipher.AssociatedData(&col), canon)
	for tv := uint32(1); tv <= 2; tv++ {
		terms, err := c.CellTermsAt(&col, nil, canon, tv)
		if err != nil {
			t.Fatal(err)
		}
		for _, v1 := range plain {
			cell, _ := keys.WithTerms(v1, terms)
			if !containsText(cands, cell) {
				t.Errorf("a cell with terms of version %d is not a candidate", tv)
			}
		}
	}
	if got, _, _ := keys.TermsOf(cands[0]); got.Version != 2 {
		t.Errorf("first candidate's terms are of version %d, want search_key_version 2", got.Version)
	}
	for _, v1 := range plain {
		if !containsText(cands, v1) {
			t.Error("a format-1 cell is not a candidate")
		}
	}
}

func containsText(list [][]byte, v []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, v) {
			return true
		}
	}
	return false
}
