// Package local is the keyring-file key provider: phiguard's embedded
// default for the demo and for tests that are not about Vault. Production
// configurations name keys/vault.
//
// All data keys live in one JSON file sealed with AES-256-GCM under a
// 32-byte master key that is not in the file: it comes from an environment
// variable (MasterKeyEnv by default) or a file, base64-encoded. Generate
// one with GenerateMasterKey or `openssl rand -base64 32`.
//
// The file is replaced atomically (a temporary file in the same directory,
// fsync, rename, fsync of the directory) and created with mode 0600. A
// writer re-reads the file just before its rename and returns
// keys.ErrConflict if another process changed it meanwhile; this narrows
// but does not close the window, so run one `phiguard keys` command at a
// time. Readers (phiguard serve) always see a whole file.
//
// File layout (version 1):
//
//	{"format": "phiguard-keyring", "version": 1,
//	 "nonce": base64(12 bytes), "sealed": base64(AES-256-GCM(master, nonce, keys JSON, ad))}
//
// where ad is "phiguard-keyring v1" and keys JSON lists every data key
// version: {"keys": [{"id", "version", "created", "key": base64}]}. Key
// ids are sealed too, so Status needs the master key.
package local
