// Package vaultemu is a small in-memory stand-in for HashiCorp Vault that
// answers exactly the HTTP paths keys/vault uses, in Vault's documented
// request and response shapes, so the Vault provider can be tested where a
// real Vault cannot be built or downloaded (the Vault server module does not
// build from the Go module proxy). It is a test double, not a secret store:
// everything lives in memory, unencrypted, and it trusts its callers.
//
// Paths (under /v1/, mounts "transit" and "secret" by default):
//
//	GET       sys/health                     200, or 503 (or ?sealedcode=) when sealed; no token needed
//	POST/PUT  auth/approle/login             {"role_id","secret_id"} -> auth.client_token, lease_duration
//	GET       auth/token/lookup-self         the calling token's id, policies and ttl
//	POST/PUT  transit/keys/:name             create an aes256-gcm96 key (idempotent), 204
//	POST/PUT  transit/keys/:name/rotate      add a KEK version, 204
//	POST/PUT  transit/encrypt/:name          {"plaintext": b64} -> data.ciphertext "vault:vN:...", data.key_version
//	POST/PUT  transit/decrypt/:name          {"ciphertext": "vault:vN:..."} -> data.plaintext (b64)
//	GET       secret/data/:path              data.data and data.metadata, 404 {"errors":[]} if absent
//	POST/PUT  secret/data/:path              {"data":{...},"options":{"cas":n}} -> data = version metadata;
//	                                         400 on a check-and-set mismatch
//	GET       secret/metadata/:path          current_version, versions map, ...
//	LIST      secret/metadata/:path          data.keys (also GET ?list=true), 404 if empty
//	DELETE    secret/metadata/:path          the path and all its versions, 204
//	POST/PUT  secret/destroy/:path           {"versions":[n,...]}: their data removed for good, 204
//
// Every path but sys/health needs an X-Vault-Token (or "Authorization:
// Bearer") the emulator knows: the root token, one added with AddToken, or
// one issued by an AppRole login. A token may be limited to Vault-style path
// patterns ("secret/data/phiguard/*"); anything outside them, an unknown or
// expired token answers 403 {"errors":["permission denied"]}.
//
// Faults for tests: Seal makes every request answer 503
// {"errors":["Vault is sealed"]}; FailNext makes the next n requests answer
// a given status (500, 502, 429 ...); SetLatency delays every answer.
// Requests counts what was asked, by operation.
//
// The emulator runs in-process (New + httptest.NewServer, or Start) or as a
// program: `go run ./integration/vaultemu/cmd/vaultemu -listen 127.0.0.1:8200`.
package vaultemu
