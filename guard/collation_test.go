package guard

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestResolveProbes: a probe's collation OID becomes the catalog's
// description (the collation for a key or comparison, the LC_CTYPE for a
// case mapping); an OID the catalog lacks refuses the statement with
// 40001 and marks the catalog stale; a missing row stays missing.
func TestResolveProbes(t *testing.T) {
	s := &Session{}
	cat := &catalog{collations: map[uint32]collationEntry{
		100:   {collate: []byte("c::C"), ctype: []byte("c::C.utf8"), deterministic: []byte("true")},
		16384: {collate: []byte("c:2.36:en_US.utf8"), ctype: []byte("c:2.36:en_US.utf8"), deterministic: []byte("true")},
	}}
	s.catalog.Store(cat)
	sp := &sqlrewrite.SortPlan{
		Keys:     []sqlrewrite.SortKey{{Collation: 0}},
		Filters:  []sqlrewrite.Filter{{Collation: -1, Ctype: 1, DefaultCtype: 2}},
		Distinct: []sqlrewrite.SortKey{{Collation: 4}},
	}
	hidden := [][]byte{[]byte("16384"), []byte("100"), []byte("shadowed"), []byte("7"), []byte("100")}
	got, pe := s.resolveProbes(sp, hidden)
	if pe != nil || string(got[0]) != "c:2.36:en_US.utf8" || string(got[1]) != "c::C.utf8" || string(got[2]) != "shadowed" || string(got[3]) != "7" || string(got[4]) != "true" {
		t.Fatalf("resolved %q, %v", got, pe)
	}
	if string(hidden[0]) != "16384" {
		t.Error("resolveProbes wrote into the row")
	}
	if s.catalogStale.Load() {
		t.Error("the catalog was marked stale")
	}
	sp.Keys[0].Collation = 3 // OID 7: not in the catalog
	if _, pe := s.resolveProbes(sp, hidden); pe == nil || pe.Code != "40001" || !strings.Contains(pe.Message, "run the statement again") || !s.catalogStale.Load() {
		t.Fatalf("an unknown collation: %v, stale %v", pe, s.catalogStale.Load())
	}
	hidden[0] = nil
	sp.Keys[0].Collation = 0
	if got, pe := s.resolveProbes(sp, hidden); pe != nil || got[0] != nil {
		t.Fatalf("no probe row: %q, %v", got[0], pe)
	}
}
