package guard

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const termLocalePolicy = `
version: 1
tables:
  public.p:
    columns:
      om:   {mode: randomized, key: k, type: text, search: [order, match], search_key_version: 1}
      ord:  {mode: randomized, key: k, type: text, search: [order], search_key_version: 1}
      eq:   {mode: randomized, key: k, type: text, search: [equality], search_key_version: 1}
      born: {mode: randomized, key: k, type: date, search: [order], search_key_version: 1}
      none: {mode: randomized, key: k, type: text}
`

// TestTermLocale: the locale a write computes order and match terms
// under, from the column's collation in the session's catalog: C
// bytewise (nil), a libc locale at phiguard's C library version, and
// refusals for ICU, another C library version, LC_COLLATE and LC_CTYPE
// that differ, and a collation the catalog does not describe (40001, the
// catalog marked stale). Equality-only and non-text columns need none.
func TestTermLocale(t *testing.T) {
	pol, err := sqlrewrite.ParsePolicy([]byte(termLocalePolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	enUS, err := pgcollate.Open("en_US.utf8")
	if err != nil {
		t.Skipf("no en_US.utf8 locale here: %v", err)
	}
	libc := func(locale string) []byte { return []byte("c:" + pgcollate.Version() + ":" + locale) }
	collations := map[uint32]collationEntry{
		950: {collate: []byte("c::C"), ctype: []byte("c::C")},
		1:   {collate: libc("en_US.utf8"), ctype: libc("en_US.utf8")},
		2:   {collate: []byte("i::und"), ctype: []byte("i::und")},
		3:   {collate: []byte("c::C"), ctype: libc("en_US.utf8")},
		4:   {collate: []byte("c:0.1:en_US.utf8"), ctype: []byte("c:0.1:en_US.utf8")},
	}
	tab, _ := pol.Table("public", "p")
	for _, c := range []struct {
		col       string
		collation uint32
		want      *pgcollate.Locale
		code      pgerr.Code // "": no error
		words     string
	}{
		{"om", 950, nil, "", ""},
		{"om", 1, enUS, "", ""},
		{"ord", 1, enUS, "", ""},
		{"om", 2, nil, pgerr.FeatureNotSupported, "public.p.om, whose order terms depend on its collation und: phiguard orders text under libc collations only"},
		{"ord", 3, nil, "", ""},
		{"om", 3, nil, pgerr.FeatureNotSupported, "LC_COLLATE (C) and LC_CTYPE (en_US.utf8) differ"},
		{"om", 4, nil, pgerr.FeatureNotSupported, "is not phiguard's"},
		{"om", 77, nil, pgerr.SerializationFailure, "public.p.om"},
		{"eq", 2, nil, "", ""},
		{"born", 0, nil, "", ""},
	} {
		col, _ := pol.Column("public", "p", c.col)
		cat := &catalog{tables: map[policy.TableName][]catalogColumn{tab.Name: {{name: c.col, protected: col, collation: c.collation}}}, collations: collations}
		s := &Session{}
		s.catalog.Store(cat)
		got, pe := s.termLocale(col)
		switch {
		case c.code == "" && pe != nil:
			t.Errorf("%s under %d: %s", c.col, c.collation, pe.Message)
		case c.code != "" && (pe == nil || pe.Code != c.code || !strings.Contains(pe.Message, c.words)):
			t.Errorf("%s under %d: %v, want %s %q", c.col, c.collation, pe, c.code, c.words)
		case got != c.want:
			t.Errorf("%s under %d: locale %v, want %v", c.col, c.collation, got, c.want)
		}
		if stale := s.catalogStale.Load(); stale != (c.code == pgerr.SerializationFailure) {
			t.Errorf("%s under %d: catalog stale %v", c.col, c.collation, stale)
		}
	}
}

// TestEncryptValueWithoutSearch: a column without `search` is sealed as
// before, a format-1 cell, without reading the catalog (a session with
// none writes it); a column with `search` on that session is refused
// (40001) rather than given terms under a guessed collation.
func TestEncryptValueWithoutSearch(t *testing.T) {
	pol, kr := policyAndKeyring(t, termLocalePolicy)
	s := &Session{srv: &Shared{protect: &Protection{Keyring: kr, Policy: pol}}}
	none, _ := pol.Column("public", "p", "none")
	cell, pe := s.encryptValue(none, 0, []byte("Quorvath"), nil)
	if pe != nil || !strings.HasPrefix(string(cell), keys.Prefix) {
		t.Fatalf("without search: %.5q, %v", cell, pe)
	}
	om, _ := pol.Column("public", "p", "om")
	if _, pe := s.encryptValue(om, 0, []byte("Quorvath"), nil); pe == nil || pe.Code != pgerr.SerializationFailure {
		t.Fatalf("with search and no catalog: %v", pe)
	}
}
