package keys

import "context"

// Provider stores data keys durably, sealed or wrapped by a key it does not
// hand out, and loads them into a Keyring. Implementations: keys/local (a
// sealed file) and keys/vault (Vault transit + KV v2).
//
// Load is what the proxy calls at start and on reload; Init, Rotate and
// Status back `phiguard keys init | rotate | status`. All methods are safe
// to call concurrently with each other from one process; across processes,
// writers detect a concurrent change and return ErrConflict where the
// store allows it.
type Provider interface {
	// Load reads and unseals every data key and returns a Keyring.
	Load(ctx context.Context) (*Keyring, error)

	// Init creates version 1 of each key id that does not exist yet and
	// leaves existing ids untouched. It returns the ids it created (on
	// error, those created before the error).
	Init(ctx context.Context, keyIDs []string) (created []string, err error)

	// Rotate adds a new version to keyID, which becomes its write version.
	// Older versions stay readable. ErrUnknownKey if keyID does not exist.
	Rotate(ctx context.Context, keyID string) (newVersion uint32, err error)

	// Status lists key ids and versions. It never returns key bytes.
	Status(ctx context.Context) ([]KeyStatus, error)
}
