package guard

import (
	"slices"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestReloadRefusesUnloadedSearchKeyVersion: a policy whose
// search_key_version is not a loaded version of the column's key is
// refused at reload (the terms are not used yet, but a version the keys
// lack would be found only when they are).
func TestReloadRefusesUnloadedSearchKeyVersion(t *testing.T) {
	var dks []keys.DataKey
	for v := uint32(1); v <= 2; v++ {
		dk, err := keys.GenerateDataKey("pii", v, time.Unix(int64(v), 0))
		if err != nil {
			t.Fatal(err)
		}
		dks = append(dks, dk)
	}
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	p := &Protection{Keyring: kr}
	load := func(version string) *policy.Policy {
		pol, err := sqlrewrite.ParsePolicy([]byte("version: 1\ntables:\n  patients:\n    columns:\n      last: {mode: randomized, key: pii, type: text, search: [order], search_key_version: " + version + "}\n      first: {mode: randomized, key: pii, type: text}\n"))
		if err == nil {
			err = pol.Validate()
		}
		if err != nil {
			t.Fatal(err)
		}
		return pol
	}
	for _, v := range []string{"1", "2"} {
		if m := p.missingKeys(load(v)); len(m) != 0 {
			t.Errorf("search_key_version %s: missing %v", v, m)
		}
	}
	for _, v := range []string{"3", "12", "21"} {
		want := []string{"pii version " + v + " (search_key_version of public.patients.last)"}
		if m := p.missingKeys(load(v)); !slices.Equal(m, want) {
			t.Errorf("search_key_version %s: missing %v, want %v", v, m, want)
		}
	}
}
