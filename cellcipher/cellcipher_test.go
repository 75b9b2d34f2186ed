package cellcipher_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/policy"
)

const testPolicy = `
version: 1
tables:
  public.patients:
    subject_column: id
    columns:
      ssn:   {mode: deterministic, key: k-ssn, type: text}
      first: {mode: randomized,    key: k-pii, type: text}
      last:  {mode: randomized,    key: k-pii, type: text}
  public.notes:
    columns:
      body:  {mode: randomized,    key: k-pii, type: text}
`

func setup(t *testing.T) (*policy.Policy, *cellcipher.Cipher) {
	t.Helper()
	pol, err := policy.Parse([]byte(testPolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prov, err := local.New(filepath.Join(t.TempDir(), "keyring.json"), keys.NewSecret(bytes.Repeat([]byte{7}, local.MasterKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Init(ctx, []string{"k-ssn", "k-pii", keys.SubjectKeyID}); err != nil {
		t.Fatal(err)
	}
	kr, err := prov.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := keys.NewSubjectKeys(kr, prov, keys.SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pol, &cellcipher.Cipher{Keyring: kr, Subjects: sk}
}

func column(t *testing.T, pol *policy.Policy, table, name string) *policy.ProtectedColumn {
	t.Helper()
	c, ok := pol.Column("public", table, name)
	if !ok {
		t.Fatalf("no column %s.%s", table, name)
	}
	return c
}

// TestSealOpen: every kind of column round-trips, per-subject columns are
// sealed under the row's subject, and a NULL subject is refused.
func TestSealOpen(t *testing.T) {
	pol, c := setup(t)
	ctx := context.Background()
	for _, col := range []*policy.ProtectedColumn{column(t, pol, "patients", "ssn"), column(t, pol, "patients", "first"), column(t, pol, "notes", "body")} {
		cell, err := c.Seal(ctx, col, []byte("value"), []byte("p-1"))
		if err != nil {
			t.Fatalf("%s: %v", col.QualifiedName(), err)
		}
		if keys.IsSubjectCell(cell) != col.PerSubject() {
			t.Errorf("%s: subject cell %v, per subject %v", col.QualifiedName(), keys.IsSubjectCell(cell), col.PerSubject())
		}
		plain, state, err := c.Open(ctx, col, cell)
		if err != nil || state != cellcipher.Opened || string(plain) != "value" {
			t.Errorf("%s: open: %q %v %v", col.QualifiedName(), plain, state, err)
		}
	}
	if _, err := c.Seal(ctx, column(t, pol, "patients", "first"), []byte("x"), nil); !errors.Is(err, cellcipher.ErrNoSubject) {
		t.Errorf("per-subject seal without a subject: %v", err)
	}
}

// TestCellsAreBoundToTheirColumn: a randomized cell moved to another column
// fails its integrity check; deterministic columns sharing a key are one
// equality domain.
func TestCellsAreBoundToTheirColumn(t *testing.T) {
	pol, c := setup(t)
	ctx := context.Background()
	body := column(t, pol, "notes", "body")
	cell, err := c.Seal(ctx, body, []byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other := *body
	other.Name = "other"
	if _, _, err := c.Open(ctx, &other, cell); !errors.Is(err, keys.ErrIntegrity) {
		t.Errorf("a cell opened as another column's: %v, want ErrIntegrity", err)
	}
	ssn := column(t, pol, "patients", "ssn")
	twin := *ssn
	twin.Name = "ssn_copy"
	a, _ := c.Seal(ctx, ssn, []byte("123"), nil)
	b, _ := c.Seal(ctx, &twin, []byte("123"), nil)
	if !bytes.Equal(a, b) {
		t.Error("deterministic columns sharing a key give different cells for one value")
	}
}

// TestLegacyPlaintext: a value that is not a cell is the plaintext as
// stored, until the column is marked fully encrypted; then it is an error.
func TestLegacyPlaintext(t *testing.T) {
	pol, c := setup(t)
	ctx := context.Background()
	body := column(t, pol, "notes", "body")
	plain, state, err := c.Open(ctx, body, []byte("as stored"))
	if err != nil || state != cellcipher.Legacy || string(plain) != "as stored" {
		t.Errorf("legacy value: %q %v %v", plain, state, err)
	}
	full := *body
	full.State = policy.StateEncrypted
	if _, _, err := c.Open(ctx, &full, []byte("as stored")); !errors.Is(err, cellcipher.ErrPlaintextInEncrypted) {
		t.Errorf("plaintext in a fully encrypted column: %v", err)
	}
}

// TestShredded: a subject's cells open as Shredded once its key is gone,
// and nothing new is sealed for it.
func TestShredded(t *testing.T) {
	pol, c := setup(t)
	ctx := context.Background()
	first := column(t, pol, "patients", "first")
	cell, err := c.Seal(ctx, first, []byte("Ann"), []byte("p-9"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Subjects.Shred(ctx, "p-9"); err != nil {
		t.Fatal(err)
	}
	if plain, state, err := c.Open(ctx, first, cell); err != nil || state != cellcipher.Shredded || plain != nil {
		t.Errorf("shredded cell: %q %v %v", plain, state, err)
	}
	if _, err := c.Seal(ctx, first, []byte("Ann"), []byte("p-9")); !errors.Is(err, keys.ErrShredded) {
		t.Errorf("seal for a shredded subject: %v", err)
	}
	if _, _, err := (&cellcipher.Cipher{Keyring: c.Keyring}).Open(ctx, first, cell); !errors.Is(err, cellcipher.ErrNoSubjectKeys) {
		t.Errorf("subject cell without subject keys: %v", err)
	}
}
