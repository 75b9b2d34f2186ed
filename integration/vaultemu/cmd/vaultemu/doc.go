// Command vaultemu serves the Vault emulator of package vaultemu, for
// trying keys/vault by hand or from scripts without a real Vault:
//
//	go run ./integration/vaultemu/cmd/vaultemu -listen 127.0.0.1:8200 -root-token root
//	export VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root
//
// The transit key named by -transit-key is created at start. -approle
// name:role_id:secret_id (repeatable) registers an AppRole with full access.
// It serves TLS when -tls-cert and -tls-key are given.
package main
