package backfill

import (
	"testing"
	"time"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
)

// TestTermsCurrent: the skip rule reads a cell's terms without a key:
// current only with tv = search_key_version and exactly the column's
// kinds; a format-1 cell, another tv, a missing or extra section are
// not; a subject-free cell with no terms at all is not either (only a
// shredded subject's may be empty). stripTerms gives back the format-1
// cell.
func TestTermsCurrent(t *testing.T) {
	pol := mustPolicy(t, termColumns)
	first, _ := pol.Column("public", "patients", "first")
	birth, _ := pol.Column("public", "patients", "birthdate")
	dk, err := keys.GenerateDataKey("patients-pii", 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keys.NewKeyring([]keys.DataKey{dk})
	if err != nil {
		t.Fatal(err)
	}
	c := &cellcipher.Cipher{Keyring: kr}
	v1, err := c.SealColumnKey(first, []byte("Gleason"))
	if err != nil {
		t.Fatal(err)
	}
	ft, err := c.CellTerms(first, nil, []byte("Gleason"))
	if err != nil {
		t.Fatal(err)
	}
	with := func(tt keys.CellTerms) []byte {
		out, err := keys.WithTerms(v1, tt)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	noPrefix, noMatch, tv2, extraEq, empty := ft, ft, ft, ft, keys.CellTerms{Version: 1}
	noPrefix.Prefix = ""
	noMatch.Match = nil
	tv2.Version = 2
	extraEq.Eq = make([]byte, keys.EqTermSize)
	for _, tc := range []struct {
		name string
		v    []byte
		want bool
	}{
		{"current", with(ft), true},
		{"empty value's match (no tokens)", with(noMatch), true},
		{"format 1", v1, false},
		{"another term version", with(tv2), false},
		{"prefix key missing", with(noPrefix), false},
		{"equality the column lacks", with(extraEq), false},
		{"no terms, not a subject cell", with(empty), false},
	} {
		if got := termsCurrent(first, tc.v); got != tc.want {
			t.Errorf("%s: termsCurrent %v, want %v", tc.name, got, tc.want)
		}
	}
	if termsCurrent(birth, with(ft)) {
		t.Error("first's terms are current for birthdate's kinds")
	}
	back, err := stripTerms(with(ft))
	if err != nil || string(back) != string(v1) {
		t.Errorf("stripTerms: %v", err)
	}
	if _, err := stripTerms(v1); err == nil {
		t.Error("stripTerms of a format-1 cell")
	}
}
