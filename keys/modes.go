package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
)

// version holds the two ciphers of one key version. Both are safe for
// concurrent use. siv is nil in a subject key's version
// (newRandomizedVersion): subject cells are only ever randomized.
type version struct {
	dk  DataKey
	gcm cipher.AEAD
	siv *aesSIV
}

// newVersion derives the per-mode keys from the data key's root:
// HKDF-SHA256(root, info = label | mode | len(id) | id | version).
func newVersion(dk DataKey) (*version, error) { return deriveVersion(dk, true) }

// newRandomizedVersion is newVersion without the deterministic cipher, for
// subject keys: the backfill derives one per patient, and the AES-SIV key's
// HKDF and setup were half of that cost for a cipher subject cells never use.
func newRandomizedVersion(dk DataKey) (*version, error) { return deriveVersion(dk, false) }

func deriveVersion(dk DataKey, withSIV bool) (*version, error) {
	root := dk.Key.Expose()
	defer clear(root)
	if len(root) != DataKeySize {
		return nil, fmt.Errorf("keys: key %q version %d: data key must be %d bytes", dk.ID, dk.Version, DataKeySize)
	}
	gcmKey, err := hkdf.Key(sha256.New, root, nil, string(deriveInfo(Randomized, dk)), 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive: %w", err)
	}
	block, err := aes.NewCipher(gcmKey)
	clear(gcmKey)
	if err != nil {
		return nil, fmt.Errorf("keys: aes: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: gcm: %w", err)
	}
	v := &version{dk: dk, gcm: gcm}
	if !withSIV {
		return v, nil
	}
	sivKey, err := hkdf.Key(sha256.New, root, nil, string(deriveInfo(Deterministic, dk)), sivKeySize)
	if err != nil {
		return nil, fmt.Errorf("keys: derive: %w", err)
	}
	v.siv, err = newAESSIV(sivKey) // keeps only the key schedules
	clear(sivKey)
	if err != nil {
		return nil, fmt.Errorf("keys: aes-siv: %w", err)
	}
	return v, nil
}

func deriveInfo(m Mode, dk DataKey) []byte {
	info := []byte("phiguard cell key v1")
	info = append(info, 0, byte(m), byte(len(dk.ID)))
	info = append(info, dk.ID...)
	return binary.BigEndian.AppendUint32(info, dk.Version)
}

// sealAppend appends the cell body for plaintext under mode to dst.
func (v *version) sealAppend(dst []byte, mode Mode, ad, plaintext []byte) ([]byte, error) {
	switch mode {
	case Randomized:
		n := len(dst)
		dst = slices.Grow(dst, gcmNonceLen+len(plaintext)+gcmTagLen)[:n+gcmNonceLen]
		nonce := dst[n:]
		if _, err := rand.Read(nonce); err != nil {
			return dst, fmt.Errorf("keys: nonce: %w", err)
		}
		return v.gcm.Seal(dst, nonce, plaintext, ad), nil
	case Deterministic:
		if v.siv == nil {
			return dst, fmt.Errorf("keys: key %q has no deterministic cipher", v.dk.ID)
		}
		return v.siv.sealAppend(dst, plaintext, ad), nil
	}
	return dst, fmt.Errorf("keys: unknown mode %d", mode)
}

// open authenticates and decrypts a cell body.
func (v *version) open(mode Mode, ad, body []byte) ([]byte, error) {
	return v.openInto(nil, mode, ad, body)
}

// openInto is open appending the plaintext to dst.
func (v *version) openInto(dst []byte, mode Mode, ad, body []byte) ([]byte, error) {
	var (
		pt  []byte
		err error
	)
	switch mode {
	case Randomized:
		pt, err = v.gcm.Open(dst, body[:gcmNonceLen], body[gcmNonceLen:], ad)
	case Deterministic:
		if v.siv == nil { // a subject cell claiming deterministic mode: forged or corrupt
			return nil, ErrIntegrity
		}
		pt, err = v.siv.openInto(dst, body, ad)
	default:
		return nil, fmt.Errorf("keys: unknown mode %d", mode)
	}
	if err != nil {
		return nil, ErrIntegrity
	}
	if pt == nil {
		// GCM opens an empty plaintext as nil. Callers hand the
		// plaintext on as a wire field, where nil means SQL NULL: an
		// empty string must stay an empty string.
		pt = []byte{}
	}
	return pt, nil
}
