// Package keysconfig builds the key provider that the configuration's
// `keys:` section names, reading the secrets it refers to (a master key,
// a Vault token, an AppRole secret id file) from the environment variables
// and files it names. It is the one place that joins package config to the
// providers, so that neither keys nor config imports the other.
//
// The proxy, at start:
//
//	p, err := keysconfig.Provider(cfg.Keys, registry)
//	...
//	kr, err := keysconfig.Load(ctx, p)                // names the provider and says what to do on error
//	missing := keysconfig.Missing(kr, keysconfig.KeyIDs(pol))
//
// and exits non-zero on any error: without its keys it cannot serve a
// protected column, and it never serves one unprotected.
package keysconfig
