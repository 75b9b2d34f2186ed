package local

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"github.com/phiguard/phiguard/keys"
)

// MasterKeyEnv is the environment variable phiguard reads the master key
// from unless configured otherwise.
const MasterKeyEnv = "PHIGUARD_MASTER_KEY"

// MasterKeySize is the master key's length in bytes.
const MasterKeySize = 32

// ErrMasterKey: the master key is missing or malformed, or it does not
// open the keyring file (a wrong key, or a damaged file: AES-GCM cannot
// tell which).
var ErrMasterKey = errors.New("local: master key")

// ParseMasterKey decodes a base64 (standard or URL alphabet, padded or
// not) master key, ignoring surrounding whitespace.
func ParseMasterKey(text []byte) (keys.Secret, error) {
	text = bytes.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b := make([]byte, enc.DecodedLen(len(text)))
		n, err := enc.Decode(b, text)
		if err == nil && n == MasterKeySize {
			s := keys.NewSecret(b[:n])
			clear(b)
			return s, nil
		}
		clear(b)
	}
	return keys.Secret{}, fmt.Errorf("%w: want %d bytes, base64-encoded", ErrMasterKey, MasterKeySize)
}

// MasterKeyFromEnv reads the master key from the environment variable name.
func MasterKeyFromEnv(name string) (keys.Secret, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return keys.Secret{}, fmt.Errorf("%w: environment variable %s is not set", ErrMasterKey, name)
	}
	s, err := ParseMasterKey([]byte(v))
	if err != nil {
		return keys.Secret{}, fmt.Errorf("environment variable %s: %w", name, err)
	}
	return s, nil
}

// MasterKeyFromFile reads the master key from a file holding its base64.
func MasterKeyFromFile(path string) (keys.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return keys.Secret{}, fmt.Errorf("%w: %v", ErrMasterKey, err)
	}
	defer clear(b)
	s, err := ParseMasterKey(b)
	if err != nil {
		return keys.Secret{}, fmt.Errorf("file %s: %w", path, err)
	}
	return s, nil
}

// GenerateMasterKey returns a new random master key in the base64 form
// the functions above read.
func GenerateMasterKey() (string, error) {
	b := make([]byte, MasterKeySize)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	defer clear(b)
	return base64.StdEncoding.EncodeToString(b), nil
}
