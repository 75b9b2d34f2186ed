package keys

import (
	"errors"
	"fmt"
)

// Withdrawal: when the key service definitely refuses phiguard its keys
// (a revoked token, a deleted or disabled wrapping key, a removed key
// record, a replaced keyring file), the holder of the keyring swaps in
// Withdrawn(reason), which holds no keys at all: every encryption,
// decryption, equality candidate and pseudonym fails with a
// *WithdrawnError naming the key id, so that nothing is served from keys
// phiguard is no longer allowed to hold. A keyring loaded again later
// (the service answering again) is swapped back in.

// ErrWithdrawn matches every *WithdrawnError.
var ErrWithdrawn = errors.New("keys: access to the keys was withdrawn")

// ErrRevoked: the key service answered, and its answer was a definite no
// that waiting will not change: the wrapping key was deleted or its
// minimum decryption version raised past a stored key's, a login's
// credentials were destroyed. Like ErrPermissionDenied (a revoked or
// expired token, a removed policy) it withdraws the keys at once; an
// unreachable or sealed service (ErrUnavailable) does not.
var ErrRevoked = errors.New("keys: the key service refused the keys")

// Definite says whether err is a definite refusal of the key service
// (ErrPermissionDenied, ErrRevoked, ErrUnknownKey: a key record that is
// gone) rather than an outage: the keys are withdrawn at once rather than
// after a grace period.
func Definite(err error) bool {
	return errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrRevoked) || errors.Is(err, ErrUnknownKey)
}

// WithdrawnError is what a withdrawn keyring answers. Its message names
// the key id and the reason (the key service's refusal, which names an
// operation and a path, never a token or key bytes).
type WithdrawnError struct {
	KeyID  string
	Reason error
}

func (e *WithdrawnError) Error() string {
	return fmt.Sprintf("keys: key %q is withdrawn: %v", e.KeyID, e.Reason)
}

// Unwrap matches ErrWithdrawn, and not the reason's sentinels: a
// withdrawn key is neither unknown nor merely unavailable.
func (e *WithdrawnError) Unwrap() error { return ErrWithdrawn }

// Withdrawn returns a keyring that holds no keys because of reason (not
// nil). See WithdrawnError.
func Withdrawn(reason error) *Keyring {
	if reason == nil {
		reason = errors.New("no reason given")
	}
	return &Keyring{ids: map[string]*keyVersions{}, withdrawn: reason}
}

// Withdrawal is why the keyring holds no keys, or nil for a keyring of
// keys.
func (k *Keyring) Withdrawal() error {
	if k == nil {
		return nil
	}
	return k.withdrawn
}

// SameKeys says whether k and o hold the same key ids and versions with
// the same key bytes, so that a keyring loaded again can be told from the
// one in use: a rotated, retired or replaced version makes them differ.
func (k *Keyring) SameKeys(o *Keyring) bool {
	if k == nil || o == nil || k.withdrawn != nil || o.withdrawn != nil || len(k.ids) != len(o.ids) {
		return false
	}
	for id, kv := range k.ids {
		ov := o.ids[id]
		if ov == nil || len(ov.versions) != len(kv.versions) {
			return false
		}
		for n, v := range kv.versions {
			w := ov.versions[n]
			if w == nil || !v.dk.Key.Equal(w.dk.Key) {
				return false
			}
		}
	}
	return true
}
