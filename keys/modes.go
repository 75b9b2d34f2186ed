package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// version holds the two ciphers of one key version. Both are safe for
// concurrent use.
type version struct {
	dk  DataKey
	gcm cipher.AEAD
	siv *subtle.AESSIV
}

// newVersion derives the per-mode keys from the data key's root:
// HKDF-SHA256(root, info = label | mode | len(id) | id | version).
func newVersion(dk DataKey) (*version, error) {
	root := dk.Key.Expose()
	defer clear(root)
	if len(root) != DataKeySize {
		return nil, fmt.Errorf("keys: key %q version %d: data key must be %d bytes", dk.ID, dk.Version, DataKeySize)
	}
	gcmKey, err := hkdf.Key(sha256.New, root, nil, string(deriveInfo(Randomized, dk)), 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive: %w", err)
	}
	sivKey, err := hkdf.Key(sha256.New, root, nil, string(deriveInfo(Deterministic, dk)), subtle.AESSIVKeySize)
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
	siv, err := subtle.NewAESSIV(sivKey) // keeps sivKey
	if err != nil {
		return nil, fmt.Errorf("keys: aes-siv: %w", err)
	}
	return &version{dk: dk, gcm: gcm, siv: siv}, nil
}

func deriveInfo(m Mode, dk DataKey) []byte {
	info := []byte("phiguard cell key v1")
	info = append(info, 0, byte(m), byte(len(dk.ID)))
	info = append(info, dk.ID...)
	return binary.BigEndian.AppendUint32(info, dk.Version)
}

// seal returns the cell body for plaintext under mode.
func (v *version) seal(mode Mode, ad, plaintext []byte) ([]byte, error) {
	switch mode {
	case Randomized:
		body := make([]byte, gcmNonceLen, gcmNonceLen+len(plaintext)+gcmTagLen)
		if _, err := rand.Read(body); err != nil {
			return nil, fmt.Errorf("keys: nonce: %w", err)
		}
		return v.gcm.Seal(body, body, plaintext, ad), nil
	case Deterministic:
		return v.siv.EncryptDeterministically(plaintext, ad)
	}
	return nil, fmt.Errorf("keys: unknown mode %d", mode)
}

// open authenticates and decrypts a cell body.
func (v *version) open(mode Mode, ad, body []byte) ([]byte, error) {
	var (
		pt  []byte
		err error
	)
	switch mode {
	case Randomized:
		pt, err = v.gcm.Open(nil, body[:gcmNonceLen], body[gcmNonceLen:], ad)
	case Deterministic:
		pt, err = v.siv.DecryptDeterministically(body, ad)
	default:
		return nil, fmt.Errorf("keys: unknown mode %d", mode)
	}
	if err != nil {
		return nil, ErrIntegrity
	}
	return pt, nil
}
