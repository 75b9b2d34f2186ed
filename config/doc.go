// Package config owns phiguard's YAML configuration file: its Go model, the
// defaults that make a local try work with no file at all, loading with
// unknown keys rejected, and Validate, which reports every problem with the
// key path it belongs to (so `phiguard check` can print them all at once).
//
// The access policy (protected columns, roles) will live in package policy;
// this file holds only what the proxy process itself needs: where to listen,
// where the backend is, how TLS is set up on each side, and which key
// provider holds the data keys (keys:, which names environment variables and
// files, never a secret; package keys/keysconfig builds the provider).
package config
