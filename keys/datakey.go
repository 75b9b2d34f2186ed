package keys

import (
	"crypto/rand"
	"fmt"
	"time"
)

// DataKeySize is the length of a data key's random root, in bytes.
const DataKeySize = 32

// DataKey is one version of a data key, as providers store it (sealed or
// wrapped) and hand it to NewKeyring. The cipher keys for each mode are
// derived from Key with HKDF-SHA256, bound to the key id and version, so
// the root is never used directly by a cipher and a root stored under the
// wrong id or version yields keys that authenticate nothing.
type DataKey struct {
	ID      string
	Version uint32 // 1, 2, ...; the highest is the write version
	Created time.Time
	Key     Secret // DataKeySize bytes from crypto/rand
}

// GenerateDataKey returns a new data key with DataKeySize bytes from
// crypto/rand.
func GenerateDataKey(id string, version uint32, now time.Time) (DataKey, error) {
	if err := ValidateKeyID(id); err != nil {
		return DataKey{}, err
	}
	if version == 0 {
		return DataKey{}, fmt.Errorf("keys: key %q: version must be at least 1", id)
	}
	b := make([]byte, DataKeySize)
	if _, err := rand.Read(b); err != nil {
		return DataKey{}, fmt.Errorf("keys: generate data key: %w", err)
	}
	k := DataKey{ID: id, Version: version, Created: now.UTC(), Key: NewSecret(b)}
	clear(b)
	return k, nil
}
