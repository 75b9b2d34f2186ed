package keys

import "errors"

// Errors returned by this package and its providers. Check them with
// errors.Is; the messages that wrap them name key ids, versions and columns
// but never key bytes or plaintext.
var (
	// ErrNotACell: the value does not carry the cell prefix or does not
	// parse as a cell (legacy plaintext, or a cell cut short).
	ErrNotACell = errors.New("keys: not an encrypted cell")

	// ErrIntegrity: the cell parses but does not authenticate: it was
	// altered, or it belongs to another column, or it was sealed under
	// different key bytes than the ones now held for its key id and version.
	ErrIntegrity = errors.New("keys: cell failed authentication")

	// ErrUnknownKey: the key id, or the key version the cell names, is not
	// in the keyring (never created, not loaded, or retired).
	ErrUnknownKey = errors.New("keys: unknown key")

	// ErrUnavailable: the key service cannot be reached or cannot answer now
	// (network error, timeout, 5xx, sealed). The proxy maps it to SQLSTATE
	// 58000 (57P03 at start-up). Retrying later may succeed.
	ErrUnavailable = errors.New("keys: key service unavailable")

	// ErrPermissionDenied: the key service refused the credentials (Vault's
	// 403). Retrying will not help until the operator fixes the policy.
	ErrPermissionDenied = errors.New("keys: permission denied by key service")

	// ErrConflict: another writer changed the stored keyring between this
	// provider's read and its write (for instance two concurrent rotations).
	// Nothing was written; load again and retry.
	ErrConflict = errors.New("keys: keyring changed concurrently")
)
