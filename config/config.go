package config

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole phiguard configuration file.
type Config struct {
	// Listen is the address applications connect to, host:port.
	Listen string `yaml:"listen"`
	// Admin is the HTTP address serving /metrics, /healthz and /readyz.
	// Empty disables the admin listener.
	Admin string `yaml:"admin"`
	// AdminPprof also serves Go's profiler under /debug/pprof/ on the admin
	// listener, for diagnosing CPU and memory use. Off by default.
	AdminPprof bool      `yaml:"admin_pprof"`
	Backend    Backend   `yaml:"backend"`
	TLS        ClientTLS `yaml:"tls"`
	Limits     Limits    `yaml:"limits"`
	Log        Log       `yaml:"log"`
	// PolicyFile is the policy file (package policy, docs/policy.md) that
	// tags the protected columns. Empty means no column is protected.
	PolicyFile string `yaml:"policy_file"`
	// Keys says where the data keys of the policy's key ids are kept.
	Keys Keys `yaml:"keys"`
	// ShutdownTimeout bounds how long SIGTERM waits for open transactions.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	Audit           Audit    `yaml:"audit"`
}

// Backend is the PostgreSQL server phiguard fronts.
type Backend struct {
	Host string     `yaml:"host"`
	Port int        `yaml:"port"`
	TLS  BackendTLS `yaml:"tls"`
	// ConnectTimeout bounds dialing the backend (and its TLS handshake).
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// ProbeUser is the user name in the StartupMessage of the readiness
	// check (/readyz). The check hangs up at the authentication request,
	// so the role needs no password and need not exist; under trust
	// authentication a role that does not exist is logged by PostgreSQL
	// at every check, so create it (NOLOGIN is enough) or pick one that is.
	ProbeUser string `yaml:"probe_user"`
	// AuthTimeout bounds the backend's part of a login, from the dial to
	// its first ReadyForQuery: a backend that hangs there is reported to
	// the client as 08006 instead of holding it.
	AuthTimeout Duration `yaml:"auth_timeout"`
}

// Backend TLS modes, named after libpq's sslmode values they mirror.
const (
	BackendTLSDisable    = "disable"     // plain TCP
	BackendTLSRequire    = "require"     // TLS, no certificate check (unless root_ca is set)
	BackendTLSVerifyFull = "verify-full" // TLS, certificate chain and host name checked
)

// BackendTLS is how phiguard talks TLS to the backend.
type BackendTLS struct {
	Mode string `yaml:"mode"`
	// RootCA is a PEM file of CAs trusted for the backend's certificate.
	RootCA string `yaml:"root_ca"`
	// ServerName overrides the host name checked in verify-full mode.
	ServerName string `yaml:"server_name"`
	// Cert and Key, when set, are presented to the backend as a client certificate.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// ClientTLS is how applications talk TLS to phiguard.
type ClientTLS struct {
	// Cert and Key are phiguard's server certificate. Without them an
	// SSLRequest is answered 'N' and clients continue in plaintext.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCA, when set, makes a client certificate signed by it mandatory
	// (the second factor next to the database password).
	ClientCA string `yaml:"client_ca"`
	// Require refuses clients that do not ask for TLS.
	Require bool `yaml:"require"`
}

// Limits caps what one client or backend may make phiguard hold in memory.
type Limits struct {
	// MaxMessageBytes caps a single protocol message in either direction
	// (default 256 MiB; PostgreSQL itself allows up to 1 GiB). Messages that
	// phiguard must inspect whole are held in memory up to this size; the
	// rest are streamed through.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// ParseCacheEntries bounds the statement-analysis cache by entries,
	// and ParseCacheBytes by the bytes its analyses are estimated to hold
	// (default 128 MiB); whichever is reached first evicts.
	ParseCacheEntries int   `yaml:"parse_cache_entries"`
	ParseCacheBytes   int64 `yaml:"parse_cache_bytes"`
	// RewriteCacheBytes bounds the cache of access-rule rewrites, which
	// also holds at most ParseCacheEntries rewrites (default 64 MiB).
	// docs/memory.md adds these up with the rest of phiguard's memory.
	RewriteCacheBytes int64 `yaml:"rewrite_cache_bytes"`
	// ParseInflightBytes bounds the SQL text of statements over 4 KiB
	// being analysed at once (default 1 MiB): analysis takes 80 to 350
	// times the text while it runs. A statement larger than this is
	// analysed alone; others wait their turn.
	ParseInflightBytes int64 `yaml:"parse_inflight_bytes"`
	// MaxConnections caps concurrent client sessions (default 1000); 0
	// means no cap. Each session holds two file descriptors.
	MaxConnections int `yaml:"max_connections"`
	// MaxStartupConnections caps connections accepted but not yet
	// authenticated (default 100): the ones an unauthenticated peer can
	// open at no cost. See admission.go.
	MaxStartupConnections int `yaml:"max_startup_connections"`
	// MaxStartupPerSource caps those per client IP address (default 50), so
	// one host cannot take every startup slot.
	MaxStartupPerSource int `yaml:"max_startup_per_source"`
	// StartupTimeout bounds a client's startup: TLS, the StartupMessage and
	// its answers to the authentication exchange (default 10s).
	StartupTimeout Duration `yaml:"startup_timeout"`
	// ProxySortRows and ProxySortBytes cap the rows, and the bytes of
	// their fields, that one statement sorted in the proxy (ORDER BY on
	// an encrypted column, docs/search.md) may buffer (defaults 100,000
	// rows and 64 MiB); past either the statement fails with 54000.
	ProxySortRows  int   `yaml:"proxy_sort_rows"`
	ProxySortBytes int64 `yaml:"proxy_sort_bytes"`
	// ReusedPlans is how many texts of sorted reads a session prepares in
	// the backend under phiguard's own names, to reuse PostgreSQL's plan
	// of them for the client's unnamed statement (default 32;
	// docs/search.md, "Plan reuse for the unnamed statement"); 0 turns
	// plan reuse off: every execution sends its text, as before it.
	ReusedPlans int `yaml:"reused_plans"`
	// JudgesGuard has each write of an encrypted value check, as it runs,
	// that its table gained no constraint, unique index or row security
	// policy since the session read its catalog (docs/catalog.md, item 6).
	// Off by default: it took the PHI workload from 0.73-0.82 of plain
	// to 0.62-0.65 (BENCHMARKS.md), and a simple-protocol write from 0.33
	// to 1.19 ms; off, the window stays open until the session's next
	// catalog read.
	JudgesGuard bool `yaml:"judges_guard"`
	// CatalogMaxAge has a session read its catalog again at the start of
	// its next protocol segment once its last whole read is older (default
	// 5m; 0 never): DDL sent to the database directly, not through
	// phiguard, moves no epoch, and this bounds how long a session works
	// from a catalog that does not know it (docs/catalog.md).
	CatalogMaxAge Duration `yaml:"catalog_max_age"`
	// CatalogCoalesce has sessions of a database whose catalog reads
	// would be the same (same role, search path as resolved, settings,
	// no temporary schema, outside a transaction block) share one read
	// after another session's DDL instead of each reading (default true;
	// docs/catalog.md, "Hostile load").
	CatalogCoalesce bool `yaml:"catalog_coalesce"`
	// CatalogBindsNames lets the session's catalog bind an unqualified
	// name inside a subquery to an inner table's column where an outer
	// level has an encrypted column of that name (sqlrewrite's
	// PlanKnowing; default true), as PostgreSQL binds it. The name is
	// sent qualified with the inner table's item (x.tag), so that a
	// catalog made stale by DDL sent straight to the database, or by a
	// function's change of the search path, makes PostgreSQL fail the
	// statement, which phiguard refuses, rather than bind the name to
	// the outer encrypted column (docs/catalog.md,
	// TestRedTeam36FunctionsAndSnapshot). Off, such a statement is
	// refused, asking for the name to be qualified.
	CatalogBindsNames bool `yaml:"catalog_binds_names"`
}

// Log configures the zap logger.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
}

// Default returns the configuration used when no file is given: listen on
// localhost:6432, admin on localhost:9187, backend on localhost:5432 without TLS.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:6432",
		Admin:  "127.0.0.1:9187",
		Backend: Backend{
			Host:           "127.0.0.1",
			Port:           5432,
			TLS:            BackendTLS{Mode: BackendTLSDisable},
			ConnectTimeout: Duration(10 * time.Second),
			ProbeUser:      "phiguard_probe",
			AuthTimeout:    Duration(10 * time.Second),
		},
		Limits: Limits{
			MaxMessageBytes:    256 << 20,
			ParseCacheEntries:  10000,
			ParseCacheBytes:    128 << 20,
			RewriteCacheBytes:  64 << 20,
			ParseInflightBytes: 1 << 20,
			// Admission: far above what an application's pools open, far
			// below what exhausts file descriptors (see admission.go).
			MaxConnections:        1000,
			MaxStartupConnections: 100,
			MaxStartupPerSource:   50,
			StartupTimeout:        Duration(10 * time.Second),
			ProxySortRows:         100000,
			ProxySortBytes:        64 << 20,
			ReusedPlans:           32,
			JudgesGuard:           false,
			CatalogMaxAge:         Duration(5 * time.Minute),
			CatalogCoalesce:       true,
			CatalogBindsNames:     true,
		},
		Log:             Log{Level: "info"},
		Keys:            Keys{Provider: KeysProviderLocal},
		ShutdownTimeout: Duration(30 * time.Second),
		Audit:           DefaultAudit(),
	}
}

// Load reads a YAML file on top of Default. Unknown keys are errors, so a
// misspelt option is never silently ignored. Load does not call Validate.
func Load(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(raw)
}

// Parse decodes YAML bytes on top of Default.
func Parse(raw []byte) (Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && err.Error() != "EOF" {
		return Config{}, fmt.Errorf("parse config: %w", err)
	}
	return cfg, nil
}

// Duration is a time.Duration written in YAML as "30s", "2m" and so on.
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string like \"30s\"", node.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %v", node.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
