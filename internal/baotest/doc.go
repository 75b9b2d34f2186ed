// Package baotest runs a real OpenBao server for tests.
//
// OpenBao is the Linux Foundation's open-source fork of HashiCorp Vault,
// with Vault's HTTP API: transit, KV v2, AppRole, token auth, seal and
// unseal. phiguard's Vault provider must tell a revoked credential or a
// deleted key (stop serving that data) from an outage (retry, fail
// closed), and only the real server's answers say what those look like;
// an emulator would answer whatever we believe. Start therefore runs
// `bao server` (see Binary for where it is found; without it Start skips,
// or fails when CI=true) and leaves a server ready for phiguard:
//
//   - a config file in t.TempDir(): file storage in the same directory, a
//     plain-HTTP listener on a free 127.0.0.1 port, clustering off (its
//     listener would take port+1, maybe another test's), api_addr set;
//   - sys/init with one key share; the share and the root token are kept in
//     memory only, never written to a file or a log line;
//   - sys/unseal; transit mounted at transit/, KV v2 at secret/, the
//     aes256-gcm96 transit key "phiguard" (Options changes or drops it);
//   - ready when sys/health answers 200.
//
// Start takes about 0.3 s with the binary already unpacked (its first run
// on a machine unpacks it, about 0.7 s more), and Restart about 0.2 s.
// Each server has its own port and directory, so tests in different
// packages may run servers in parallel. The process runs in its own process
// group with a parent-death signal; t.Cleanup kills the group. Its output
// goes to Server.LogPath, whose tail a failed start quotes.
//
// # Why not dev mode
//
// `bao server -dev` keeps everything in memory and unseals itself with a
// key it never hands out. A sealed dev server cannot be unsealed again, and
// a restarted one has lost every token, secret and key. The tests that
// matter here seal and unseal, stop and restart, and check that data and
// credentials survive, so the server is a normal one with file storage.
// (OpenBao deprecates the file backend for v2.7; the binary is pinned at
// v2.6.2. disable_mlock is in the config for HashiCorp Vault's sake, which
// PHIGUARD_BAO may name; OpenBao ignores it with a warning.)
//
// # Answers a client must classify
//
// Recorded from OpenBao v2.6.2 by this package's tests (answers_test.go);
// "errors" is the JSON array in the body.
//
//	(a) transit decrypt, key deleted         400 ["encryption key not found"]
//	    transit encrypt, key deleted, token
//	    without "create" (transit upserts)   403 ["1 error occurred:\n\t* permission denied\n\n"]
//	(b) decrypt vault:v1:... after
//	    min_decryption_version=2             400 ["ciphertext or signature version is disallowed by policy (too old)"]
//	(c) any request, token revoked           403 ["permission denied"]
//	    (also token expired, or never existed; KV, transit, lookup-self, renew-self alike)
//	(d) AppRole login, secret_id destroyed   400 ["invalid role or secret ID"]
//	    (also a secret_id that never existed; tokens it logged in earlier keep working)
//	(e) KV v2 read, metadata deleted         404, body {"errors":[]}
//	    (also a path never written; a soft-deleted version, DELETE secret/data/...,
//	    is 404 with data.data null and data.metadata.deletion_time set)
//	(f) any request while sealed             503 ["Vault is sealed"]
//	    (KV, transit, AppRole login; sealed wins over a bad token)
//	    sys/health while sealed              503, body {"initialized":true,"sealed":true,...}
//	    server stopped                       no answer: connect: connection refused
//
// So a 403 is the credential, not an outage: a dead token gets the bare
// "permission denied", a live token without the capability the
// multierror wording. A 400 from transit is the key or ciphertext; from
// AppRole login, the secret_id. Only 503 "Vault is sealed" and transport
// errors are the server being unavailable.
//
// Through github.com/hashicorp/vault/api: Logical().Read turns a 404 into
// (nil, nil) when the body has no data or warnings, case (e), and returns
// the secret with a nil error for the soft-deleted case, whose data.data is
// null; every other case above is a *api.ResponseError with StatusCode and
// Errors as shown. That client retries 5xx answers twice by default, so a
// sealed server takes about 3 s to surface as an error unless MaxRetries is
// 0 (keys/vault's default).
package baotest
