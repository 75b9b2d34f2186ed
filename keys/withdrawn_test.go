package keys

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWithdrawnKeyringServesNothing(t *testing.T) {
	reason := errors.New("vault: transit decrypt transit/decrypt/phiguard: permission denied (HTTP 403)")
	kr := Withdrawn(reason)
	col := Column{Schema: "public", Table: "patients", Name: "ssn"}
	checks := map[string]error{}
	_, checks["Encrypt"] = kr.Encrypt("pii", Deterministic, col, []byte("x"))
	_, checks["EqualityCandidates"] = kr.EqualityCandidates("pii", col, []byte("x"))
	_, checks["LiveVersions"] = kr.LiveVersions("pii")
	_, checks["WriteVersion"] = kr.WriteVersion("pii")
	_, checks["DataKey"] = kr.DataKey("pii")
	_, checks["DataKeyVersion"] = kr.DataKeyVersion("pii", 1)
	_, checks["Pseudonymizer"] = kr.Pseudonymizer("pii")
	for name, err := range checks {
		var we *WithdrawnError
		if !errors.As(err, &we) || we.KeyID != "pii" || !errors.Is(err, ErrWithdrawn) {
			t.Errorf("%s: %v, want a *WithdrawnError for key pii", name, err)
		}
		if errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v matches another sentinel", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), `"pii"`) {
			t.Errorf("%s: %q does not name the key id", name, err)
		}
	}
	if kr.Withdrawal() != reason {
		t.Errorf("Withdrawal() = %v", kr.Withdrawal())
	}
}

func TestWithdrawnKeyringRefusesCellsSealedBefore(t *testing.T) {
	kr := mustKeyring(t, "pii", 1)
	col := Column{Schema: "public", Table: "patients", Name: "ssn"}
	cell, err := kr.Encrypt("pii", Randomized, col, []byte("123-45-6789"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Withdrawn(ErrRevoked).Decrypt(col, cell); !errors.Is(err, ErrWithdrawn) {
		t.Fatalf("Decrypt with a withdrawn keyring: %v", err)
	}
	if kr.Withdrawal() != nil {
		t.Fatal("a keyring of keys reports a withdrawal")
	}
}

func TestSameKeys(t *testing.T) {
	now := time.Now()
	k1, _ := GenerateDataKey("pii", 1, now)
	k1b, _ := GenerateDataKey("pii", 1, now)
	k2, _ := GenerateDataKey("pii", 2, now)
	ring := func(dks ...DataKey) *Keyring {
		kr, err := NewKeyring(dks)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	a := ring(k1)
	for _, c := range []struct {
		name string
		o    *Keyring
		want bool
	}{
		{"same keys", ring(k1), true},
		{"a version added (rotation)", ring(k1, k2), false},
		{"other bytes under the same version", ring(k1b), false},
		{"withdrawn", Withdrawn(ErrRevoked), false},
		{"nil", nil, false},
	} {
		if got := a.SameKeys(c.o); got != c.want {
			t.Errorf("%s: SameKeys = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDefinite(t *testing.T) {
	for err, want := range map[error]bool{
		ErrPermissionDenied: true, ErrRevoked: true, ErrUnknownKey: true,
		ErrUnavailable: false, ErrConflict: false, errors.New("other"): false,
	} {
		if Definite(err) != want {
			t.Errorf("Definite(%v) = %v", err, !want)
		}
	}
}
