package cellcipher

import (
	"context"
	"errors"
	"fmt"

	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// AssociatedData is what a column's cells are bound to: randomized cells
// to their column, so a cell moved to another column fails to open;
// deterministic cells to their key, so that every column sharing a
// deterministic key is one equality domain and joins between them match
// (docs/design/encryption-path.md §1).
func AssociatedData(c *policy.ProtectedColumn) keys.Column {
	if c.Mode == policy.ModeDeterministic {
		return keys.Column{Schema: "phiguard", Table: "deterministic-key", Name: c.Key}
	}
	return keys.Column{Schema: c.Table.Name.Schema, Table: c.Table.Name.Name, Name: c.Name}
}

// Mode is the keys.Mode of a column's policy mode.
func Mode(c *policy.ProtectedColumn) keys.Mode {
	if c.Mode == policy.ModeDeterministic {
		return keys.Deterministic
	}
	return keys.Randomized
}

// ErrPlaintextInEncrypted: a column marked fully encrypted holds a value
// that is not a cell. It is never passed on as if it were the column's
// value.
var ErrPlaintextInEncrypted = errors.New("a column marked fully encrypted holds a plaintext value")

// ErrNoSubjectKeys: a cell is sealed under a subject key and no subject
// keys were configured.
var ErrNoSubjectKeys = errors.New("the cell is sealed under a subject key and no subject keys are configured")

// Cipher opens and seals the cells of every protected column with one
// keyring and, for columns sealed per subject, one store of subject keys
// (nil when the policy has none).
type Cipher struct {
	Keyring  *keys.Keyring
	Subjects *keys.SubjectKeys
}

// State says what Open found.
type State uint8

const (
	// Opened: a cell, decrypted.
	Opened State = iota
	// Legacy: not a cell, in a column not yet fully encrypted (before or
	// during a backfill): the value is the plaintext as stored.
	Legacy
	// Shredded: a subject cell whose key was destroyed; it has no value.
	Shredded
)

// Open returns the canonical plaintext of a stored value of col. Errors:
// ErrPlaintextInEncrypted, ErrNoSubjectKeys, keys.ErrIntegrity (a cell that
// fails authentication, or was moved from another column), and the key
// provider's errors (a key that is missing or unreachable).
func (c *Cipher) Open(ctx context.Context, col *policy.ProtectedColumn, v []byte) ([]byte, State, error) {
	if keys.IsSubjectCell(v) {
		if c.Subjects == nil {
			return nil, Opened, c.noSubjectKeys()
		}
		plain, err := c.Subjects.Decrypt(ctx, AssociatedData(col), v)
		if errors.Is(err, keys.ErrShredded) {
			return nil, Shredded, nil
		}
		return plain, Opened, err
	}
	plain, err := c.Keyring.Decrypt(AssociatedData(col), v)
	if errors.Is(err, keys.ErrNotACell) {
		if col.FullyEncrypted() {
			return nil, Legacy, ErrPlaintextInEncrypted
		}
		return v, Legacy, nil
	}
	return plain, Opened, err
}

// OpenInto is Open with a cell under a column key decrypted into dst's
// array (grown as append grows it) and s's buffers, so that a caller
// opening many cells allocates for none of them: the plaintext returned
// is then dst[:len] of that array. A subject cell, and a value that is no
// cell, come back as Open returns them (a subject cell's plaintext is
// its own; legacy plaintext is v itself).
func (c *Cipher) OpenInto(ctx context.Context, s *keys.Scratch, dst []byte, col *policy.ProtectedColumn, v []byte) ([]byte, State, error) {
	if keys.IsSubjectCell(v) {
		return c.Open(ctx, col, v)
	}
	return c.OpenColumnKeyInto(s, dst, col, v)
}

// OpenColumnKeyInto is OpenInto without its first question,
// keys.IsSubjectCell, which cost a tenth of opening a cell with search
// terms: a subject cell fails here (keys.ErrUnknownKey), or reads as
// legacy plaintext when it does not parse, so a caller that opens it
// first asks keys.IsSubjectCell only when it does not come back Opened.
func (c *Cipher) OpenColumnKeyInto(s *keys.Scratch, dst []byte, col *policy.ProtectedColumn, v []byte) ([]byte, State, error) {
	plain, err := c.Keyring.DecryptInto(s, dst[:0], AssociatedData(col), v)
	if errors.Is(err, keys.ErrNotACell) {
		if col.FullyEncrypted() {
			return nil, Legacy, ErrPlaintextInEncrypted
		}
		return v, Legacy, nil
	}
	return plain, Opened, err
}

// Seal encrypts a canonical value of col: under its row's subject key when
// the column is sealed per subject (subject is the row's subject id; nil
// when the row has none), else under the column key's write version.
// Errors: keys.ErrShredded (the subject's key was destroyed: nothing new is
// sealed for it), ErrNoSubject, and the key provider's errors.
func (c *Cipher) Seal(ctx context.Context, col *policy.ProtectedColumn, canon, subject []byte) ([]byte, error) {
	if !col.PerSubject() {
		return c.Keyring.Encrypt(col.Key, Mode(col), AssociatedData(col), canon)
	}
	if subject == nil {
		return nil, ErrNoSubject
	}
	if c.Subjects == nil {
		if err := c.noSubjectKeys(); err != ErrNoSubjectKeys {
			return nil, err
		}
		return nil, fmt.Errorf("column %s is sealed per subject but %w", col.QualifiedName(), ErrNoSubjectKeys)
	}
	return c.Subjects.Encrypt(ctx, string(subject), AssociatedData(col), canon)
}

// noSubjectKeys is why there are no subject keys: the keyring's
// withdrawal (the subject keys went with it), else ErrNoSubjectKeys.
func (c *Cipher) noSubjectKeys() error {
	if reason := c.Keyring.Withdrawal(); reason != nil {
		return &keys.WithdrawnError{KeyID: keys.SubjectKeyID, Reason: reason}
	}
	return ErrNoSubjectKeys
}

// SealColumnKey encrypts under the column key whatever the column's
// sealing, for the backfill's moves of a cell that has no subject to go
// to.
func (c *Cipher) SealColumnKey(col *policy.ProtectedColumn, canon []byte) ([]byte, error) {
	return c.Keyring.Encrypt(col.Key, Mode(col), AssociatedData(col), canon)
}

// ErrNoSubject: a column sealed per subject is written for a row whose
// subject column is NULL, so there is no key to seal under.
var ErrNoSubject = errors.New("the row's subject is NULL")

// Canonical is the plaintext a column's value is sealed as: the text
// PostgreSQL itself prints for it in the column's type, whatever spelling
// or format (text or binary) it arrived in, so equal values give equal
// deterministic cells.
func Canonical(col *policy.ProtectedColumn, format int16, v []byte) ([]byte, error) {
	return pgvalue.Canonical(col.Type, format, v)
}

// CanonicalIn is Canonical for a session whose settings conv carries (its
// TimeZone: a timestamptz written without an offset is read in it).
func CanonicalIn(conv pgvalue.Converter, col *policy.ProtectedColumn, format int16, v []byte) ([]byte, error) {
	return conv.Canonical(col.Type, format, v)
}

// CanonicalShared is CanonicalIn for a value sealed before v changes: a
// text value may be v itself rather than a copy.
func CanonicalShared(conv pgvalue.Converter, col *policy.ProtectedColumn, format int16, v []byte) ([]byte, error) {
	return conv.CanonicalShared(col.Type, format, v)
}

// PresentShared is PresentIn for a value written out before canon
// changes: a text value may be canon itself rather than a copy.
func PresentShared(conv pgvalue.Converter, col *policy.ProtectedColumn, format int16, canon []byte) ([]byte, error) {
	return conv.PresentShared(col.Type, format, canon)
}

// Present turns an opened canonical value into the wire form of the
// column's type, in the format (text or binary) the client asked for.
func Present(col *policy.ProtectedColumn, format int16, canon []byte) ([]byte, error) {
	return pgvalue.Present(col.Type, format, canon)
}

// PresentIn is Present for a session whose settings conv carries (a
// timestamptz is written in its TimeZone).
func PresentIn(conv pgvalue.Converter, col *policy.ProtectedColumn, format int16, canon []byte) ([]byte, error) {
	return conv.Present(col.Type, format, canon)
}
