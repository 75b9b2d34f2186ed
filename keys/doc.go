// Package keys will own phiguard's key hierarchy and cryptography: the cell
// format, the randomized (AES-256-GCM) and deterministic (AES-SIV) modes, the
// versioned keyring and the key providers (keys/vault, keys/local).
//
// It knows nothing of SQL or the wire protocol. The foundation release ships
// no cryptography yet; the encryption work fills this package in.
package keys
