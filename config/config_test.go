package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
}

// TestDefaultAdmission pins the connection admission defaults: capped, and
// far above what a hospital application's pools open (issue 14, finding 1).
func TestDefaultAdmission(t *testing.T) {
	c := Default()
	l := c.Limits
	if l.MaxConnections != 1000 || l.MaxStartupConnections != 100 || l.MaxStartupPerSource != 50 {
		t.Errorf("caps: %+v", l)
	}
	if l.StartupTimeout.Std() != 10*time.Second || c.Backend.AuthTimeout.Std() != 10*time.Second {
		t.Errorf("deadlines: startup %v, backend auth %v", l.StartupTimeout, c.Backend.AuthTimeout)
	}
}

func TestGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yml")
	if len(files) == 0 {
		t.Fatal("no good test files")
	}
	for _, f := range files {
		cfg, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	cfg, _ := Load("testdata/minimal.good.yml")
	if cfg.Backend.Host != "db.internal" || cfg.Backend.Port != 5433 || cfg.Listen != Default().Listen {
		t.Errorf("minimal file did not merge onto defaults: %+v", cfg)
	}
	cfg, _ = Load("testdata/full.good.yml")
	if cfg.ShutdownTimeout.Std() != 45*time.Second || cfg.Limits.MaxConnections != 200 || cfg.Limits.ParseCacheBytes != 32<<20 || cfg.Limits.RewriteCacheBytes != 16<<20 || cfg.Backend.TLS.Mode != BackendTLSRequire ||
		cfg.Backend.ProbeUser != "readiness" {
		t.Errorf("full file not read as written: %+v", cfg)
	}
	if l := cfg.Limits; l.MaxStartupConnections != 40 || l.MaxStartupPerSource != 8 || l.StartupTimeout.Std() != 3*time.Second || cfg.Backend.AuthTimeout.Std() != 7*time.Second {
		t.Errorf("admission keys not read as written: %+v, auth_timeout %v", l, cfg.Backend.AuthTimeout)
	}
}

// TestBadFiles checks each bad file fails with the expected problems, each
// tied to its key path, all reported at once.
func TestBadFiles(t *testing.T) {
	want := map[string][]string{
		"unknown-key.bad.yml": {"field hostname not found"},
		"admission.bad.yml": {
			"backend.auth_timeout: must be positive",
			"limits.max_connections: must not be negative",
			"limits.max_startup_connections: must be at least 1, got 0",
			"limits.max_startup_per_source: must be at least 1, got 0",
			"limits.startup_timeout: must be positive",
		},
		"admission-per-source.bad.yml": {"limits.max_startup_per_source: must not exceed limits.max_startup_connections (10), got 20"},
		"bad-duration.bad.yml":         {`line 1: time: missing unit in duration "30"`},
		"proxy-sort.bad.yml": {
			"limits.proxy_sort_rows: must be at least 1, got 0",
			"limits.proxy_sort_bytes: must be at least 65536, got 1024",
		},
		"many-problems.bad.yml": {
			`listen: must be host:port, got "6432"`,
			"backend.host: is required",
			"backend.port: must be between 1 and 65535, got 70000",
			`backend.probe_user: must be a PostgreSQL role name (1 to 63 bytes), got ""`,
			`backend.tls.mode: must be disable, require or verify-full, got "verify-ca"`,
			"tls.require: needs tls.cert and tls.key",
			"tls.client_ca: needs tls.cert and tls.key",
			"tls.client_ca: cannot read",
			"limits.max_message_bytes: must be at least 65536, got 100",
			"limits.parse_cache_entries: must be at least 1, got 0",
			"limits.parse_cache_bytes: must be at least 1048576, got 4096",
			`log.level: must be debug, info, warn or error, got "verbose"`,
			"policy_file: cannot read: stat /nonexistent/policy.yml: no such file or directory",
		},
	}
	for file, wants := range want {
		cfg, err := Load(filepath.Join("testdata", file))
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			t.Errorf("%s: accepted", file)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", file, w, err)
			}
		}
	}
}

func TestCertificateFilesAreChecked(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	cfg := Default()
	cfg.Backend.TLS = BackendTLS{Mode: BackendTLSVerifyFull, RootCA: junk}
	cfg.TLS.Cert = junk
	err := cfg.Validate()
	for _, w := range []string{"backend.tls.root_ca: " + junk + " holds no PEM certificate", "tls.key: is required when tls.cert is set"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

func TestPolicyFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yml")
	os.WriteFile(file, []byte("version: 1\n"), 0o600)
	cfg, err := Parse([]byte("policy_file: " + file + "\n"))
	if err != nil || cfg.PolicyFile != file {
		t.Fatalf("policy_file not read: %q, %v", cfg.PolicyFile, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("readable policy file: %v", err)
	}
	if Default().PolicyFile != "" {
		t.Error("the default protects nothing and names no policy file")
	}
	cfg.PolicyFile = dir
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "policy_file: "+dir+" is a directory, not a policy file") {
		t.Errorf("directory as policy file: %v", err)
	}
}

// A 43-character absolute path decodes as base64 to 32 bytes; it must
// still be read as the path it is.
func TestKeyringPathIsNotMistakenForAMasterKey(t *testing.T) {
	dir, err := os.MkdirTemp("", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, strings.Repeat("k", 43-len(dir)-1))
	if looksLikeMasterKey(path) {
		t.Fatalf("%s taken for a master key", path)
	}
	if !looksLikeMasterKey("q2vN5m3vZr4XK9Zq4Lq1QyQe3v3s8m4Q0x0f1m1Yx2c=") {
		t.Fatal("a base64 master key was not recognised")
	}
}
