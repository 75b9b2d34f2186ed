package keys

import (
	"context"
	"errors"
	"fmt"
)

// Retirer is a Provider that can remove one version of a data key for
// good, once no cell needs it (`phiguard keys retire` checks the database
// first; the provider cannot). Cells still sealed under a retired version
// fail with ErrUnknownKey forever after.
type Retirer interface {
	Retire(ctx context.Context, keyID string, version uint32) error
}

// ErrWriteVersion: the version to retire is the key's write version, which
// new cells are sealed under; rotate first.
var ErrWriteVersion = errors.New("keys: cannot retire the write version")

// CheckRetire says whether version may be removed from a key whose stored
// versions are have: it must exist and must not be the highest (the write
// version). Providers call it before changing anything.
func CheckRetire(keyID string, version uint32, have []uint32) error {
	var top uint32
	found := false
	for _, v := range have {
		top = max(top, v)
		found = found || v == version
	}
	switch {
	case len(have) == 0:
		return fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	case !found:
		return fmt.Errorf("%w: %q has no version %d", ErrUnknownKey, keyID, version)
	case version == top:
		return fmt.Errorf("%w: %q version %d (run phiguard keys rotate, then encrypt --reencrypt, first)", ErrWriteVersion, keyID, version)
	}
	return nil
}
