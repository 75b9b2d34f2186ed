package keys

import (
	"testing"
	"time"
)

var (
	colSSN  = Column{Schema: "public", Table: "patients", Name: "ssn"}
	colName = Column{Schema: "public", Table: "patients", Name: "last"}
)

// mustKeyring returns a keyring with versions 1..n of id.
func mustKeyring(t testing.TB, id string, n uint32) *Keyring {
	t.Helper()
	var dks []DataKey
	for v := uint32(1); v <= n; v++ {
		dk, err := GenerateDataKey(id, v, time.Unix(int64(v), 0))
		if err != nil {
			t.Fatal(err)
		}
		dks = append(dks, dk)
	}
	kr, err := NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
