package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Problem is one thing wrong with a configuration, tied to its key path.
type Problem struct {
	Path    string // e.g. "backend.tls.root_ca"
	Message string
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// Problems is every problem Validate found; it is an error when non-empty.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

// Validate checks the whole configuration, including that the files it names
// exist and parse, and returns every problem found (nil when there is none).
func (c Config) Validate() error {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}

	checkAddr(add, "listen", c.Listen, true)
	if c.Admin != "" {
		checkAddr(add, "admin", c.Admin, false)
	}

	if c.Backend.Host == "" {
		add("backend.host", "is required")
	}
	if c.Backend.Port < 1 || c.Backend.Port > 65535 {
		add("backend.port", "must be between 1 and 65535, got %d", c.Backend.Port)
	}
	if c.Backend.ConnectTimeout <= 0 {
		add("backend.connect_timeout", "must be positive")
	}
	if u := c.Backend.ProbeUser; u == "" || len(u) > 63 || strings.ContainsRune(u, 0) {
		add("backend.probe_user", "must be a PostgreSQL role name (1 to 63 bytes), got %q", u)
	}
	switch c.Backend.TLS.Mode {
	case BackendTLSDisable:
		if c.Backend.TLS.RootCA != "" {
			add("backend.tls.root_ca", "is set but backend.tls.mode is disable")
		}
	case BackendTLSRequire:
	case BackendTLSVerifyFull:
		if c.Backend.TLS.RootCA == "" {
			add("backend.tls.root_ca", "is required when backend.tls.mode is verify-full")
		}
	default:
		add("backend.tls.mode", "must be disable, require or verify-full, got %q", c.Backend.TLS.Mode)
	}
	if c.Backend.TLS.RootCA != "" {
		checkCAFile(add, "backend.tls.root_ca", c.Backend.TLS.RootCA)
	}
	checkKeyPair(add, "backend.tls", c.Backend.TLS.Cert, c.Backend.TLS.Key)

	checkKeyPair(add, "tls", c.TLS.Cert, c.TLS.Key)
	if c.TLS.Cert == "" && c.TLS.Require {
		add("tls.require", "needs tls.cert and tls.key")
	}
	if c.TLS.ClientCA != "" {
		if c.TLS.Cert == "" {
			add("tls.client_ca", "needs tls.cert and tls.key")
		}
		checkCAFile(add, "tls.client_ca", c.TLS.ClientCA)
	}

	if c.Limits.MaxMessageBytes < 1<<16 {
		add("limits.max_message_bytes", "must be at least 65536, got %d", c.Limits.MaxMessageBytes)
	}
	if c.Limits.ParseCacheEntries < 1 {
		add("limits.parse_cache_entries", "must be at least 1, got %d", c.Limits.ParseCacheEntries)
	}
	c.validateAdmission(add)
	if c.Limits.ParseCacheBytes < 1<<20 {
		add("limits.parse_cache_bytes", "must be at least 1048576, got %d", c.Limits.ParseCacheBytes)
	}
	if c.Limits.RewriteCacheBytes < 1<<20 {
		add("limits.rewrite_cache_bytes", "must be at least 1048576, got %d", c.Limits.RewriteCacheBytes)
	}
	if c.Limits.ParseInflightBytes < 1<<16 {
		add("limits.parse_inflight_bytes", "must be at least 65536, got %d", c.Limits.ParseInflightBytes)
	}
	if c.Limits.ProxySortRows < 1 {
		add("limits.proxy_sort_rows", "must be at least 1, got %d", c.Limits.ProxySortRows)
	}
	if c.Limits.ProxySortBytes < 1<<16 {
		add("limits.proxy_sort_bytes", "must be at least 65536, got %d", c.Limits.ProxySortBytes)
	}
	if c.Limits.ReusedPlans < 0 || c.Limits.ReusedPlans > 1024 {
		add("limits.reused_plans", "must be from 0 (plan reuse off) to 1024, got %d", c.Limits.ReusedPlans)
	}
	if c.Limits.CatalogMaxAge < 0 {
		add("limits.catalog_max_age", "must be 0 (never) or positive, got %s", time.Duration(c.Limits.CatalogMaxAge))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.PolicyFile != "" {
		checkPolicyFile(add, "policy_file", c.PolicyFile)
	}
	c.Keys.validate(add)
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout", "must be positive")
	}
	c.Audit.validate(add)

	if len(ps) == 0 {
		return nil
	}
	return ps
}

func checkAddr(add func(string, string, ...any), path, addr string, required bool) {
	if addr == "" {
		if required {
			add(path, "is required")
		}
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		add(path, "must be host:port, got %q", addr)
	}
}

func checkCAFile(add func(string, string, ...any), path, file string) {
	pem, err := os.ReadFile(file)
	if err != nil {
		add(path, "cannot read: %v", err)
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		add(path, "%s holds no PEM certificate", file)
	}
}

// checkPolicyFile checks only that the file can be read: its content is
// package policy's to validate (phiguard check does both).
func checkPolicyFile(add func(string, string, ...any), path, file string) {
	fi, err := os.Stat(file)
	switch {
	case err != nil:
		add(path, "cannot read: %v", err)
	case fi.IsDir():
		add(path, "%s is a directory, not a policy file", file)
	default:
		f, err := os.Open(file)
		if err != nil {
			add(path, "cannot read: %v", err)
			return
		}
		f.Close()
	}
}

func checkKeyPair(add func(string, string, ...any), path, cert, key string) {
	switch {
	case cert == "" && key == "":
		return
	case cert == "":
		add(path+".cert", "is required when %s.key is set", path)
	case key == "":
		add(path+".key", "is required when %s.cert is set", path)
	default:
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			add(path+".cert", "cannot load key pair: %v", err)
		}
	}
}
