package keys

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// PseudonymPrefix starts every pseudonym token, so a reader (and a test)
// can tell a token from a value.
const PseudonymPrefix = "psn_"

// Pseudonymizer turns values into stable tokens: HMAC-SHA256, keyed by a
// key derived from one data key version, of the value's canonical text,
// shown as PseudonymPrefix and the hex of the first 16 bytes. Equal values
// give equal tokens in every session and on every instance holding the same
// key, so extracts made of tokens still join; without the key a token
// cannot be turned back or tested against a guess. Rotating the key id
// gives new tokens (the write version keys them), which unlinks extracts
// made before and after the rotation.
//
// It is safe for concurrent use.
type Pseudonymizer struct {
	id      string
	version uint32
	key     Secret
}

// Pseudonymizer derives the pseudonym key from keyID's write version.
func (k *Keyring) Pseudonymizer(keyID string) (*Pseudonymizer, error) {
	dk, err := k.DataKey(keyID)
	if err != nil {
		return nil, err
	}
	return NewPseudonymizer(dk)
}

// NewPseudonymizer derives a pseudonym key from a data key with HKDF,
// bound to its id and version, so it shares no key with the cell ciphers.
func NewPseudonymizer(dk DataKey) (*Pseudonymizer, error) {
	root := dk.Key.Expose()
	defer clear(root)
	if len(root) != DataKeySize {
		return nil, fmt.Errorf("keys: data key %q version %d: must be %d bytes", dk.ID, dk.Version, DataKeySize)
	}
	info := []byte("phiguard pseudonym v1")
	info = append(info, 0, byte(len(dk.ID)))
	info = append(info, dk.ID...)
	info = binary.BigEndian.AppendUint32(info, dk.Version)
	b, err := hkdf.Key(sha256.New, root, nil, string(info), 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive pseudonym key: %w", err)
	}
	defer clear(b)
	return &Pseudonymizer{id: dk.ID, version: dk.Version, key: NewSecret(b)}, nil
}

// Token returns the pseudonym of a value (its canonical text).
func (p *Pseudonymizer) Token(value []byte) string {
	m := hmac.New(sha256.New, p.key.bytes())
	m.Write(value)
	sum := m.Sum(nil)
	return PseudonymPrefix + hex.EncodeToString(sum[:16])
}

// KeyID is the data key id the pseudonyms are keyed from.
func (p *Pseudonymizer) KeyID() string { return p.id }
