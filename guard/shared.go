package guard

import (
	"sync"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// Shared is what every session's guard shares on one server: the
// configuration, the protection (policy, keys), the audit trail, the
// metrics, the statement analyses and access rewrites, and each
// database's latest Objects. The wire builds one with NewShared and hands
// it to each session's NewSession.
type Shared struct {
	cfg      config.Config
	log      *zap.Logger
	metrics  *Metrics
	analyzer *sqlrewrite.Analyzer
	// parseGate bounds the memory of statements under analysis
	// (parsegate.go).
	parseGate *parseGate
	protect   *Protection // nil: no encryption, no access rules
	auditor   *audit.Auditor
	// accessCache keeps access rewrites; objects the latest Objects read
	// per database, shared by its sessions.
	accessCache *sqlrewrite.AccessCache
	objMu       sync.Mutex
	objects     map[string]*Objects
	// ddl counts each database's transactions with DDL sent through
	// phiguard, for its other sessions to read their catalogs again
	// (catalog_epoch.go).
	ddl ddlEpochs
	// names are the latest catalogNames read per database, shared by
	// its sessions that read the same (catalog_shared.go).
	namesMu sync.Mutex
	names   map[string]*catalogNames
	// coalesce are the whole catalog reads kept for the sessions of a
	// database that would read the same (catalog_coalesce.go).
	coalesce coalescedReads
	// accessFor replaces accessCache.For in tests of the guard's side of
	// access control, independent of the rewriter's own rules.
	accessFor AccessFunc
}

// AccessFunc decides a statement's access for a role: the access
// rewriter's AccessCache.For, or a stand-in.
type AccessFunc func(sql string, a *sqlrewrite.Analysis, pol *policy.Policy, role *policy.Role, objs sqlrewrite.Objects, breakGlass bool) *sqlrewrite.Access

// ReplaceAccess puts f in the access rewriter's place (nil puts the
// rewriter back), for tests of the guard's side of access control,
// independent of the rewriter's own rules.
func (srv *Shared) ReplaceAccess(f AccessFunc) { srv.accessFor = f }

// CachedObjects is the latest Objects read for a database, or nil.
func (srv *Shared) CachedObjects(database string) *Objects { return srv.cachedObjects(database) }

// NewShared builds the guard's server-wide state. protect and auditor may
// each be nil: without both, sessions are not tracked (Tracks).
func NewShared(cfg config.Config, log *zap.Logger, metrics *Metrics, protect *Protection, auditor *audit.Auditor) *Shared {
	return &Shared{
		parseGate:   newParseGate(cfg.Limits.ParseInflightBytes, metrics.ParseGateWaits.Inc),
		cfg:         cfg,
		log:         log,
		metrics:     metrics,
		analyzer:    sqlrewrite.NewAnalyzer(cfg.Limits.ParseCacheEntries, cfg.Limits.ParseCacheBytes),
		accessCache: sqlrewrite.NewAccessCache(cfg.Limits.ParseCacheEntries, cfg.Limits.RewriteCacheBytes),
		protect:     protect,
		auditor:     auditor,
	}
}

// Protection is the server's protection, nil for pure passthrough.
func (srv *Shared) Protection() *Protection { return srv.protect }

// Auditor is the server's audit trail, nil when it keeps none.
func (srv *Shared) Auditor() *audit.Auditor { return srv.auditor }

// Tracks reports whether sessions follow each request to its answer:
// with a policy or an audit trail.
func (srv *Shared) Tracks() bool { return srv.protect != nil || srv.auditor != nil }

// CacheBytes are what the statement caches account for, by cache name,
// for the server's gauges (docs/memory.md).
func (srv *Shared) CacheBytes() map[string]func() int64 {
	return map[string]func() int64{"parse": srv.analyzer.Bytes, "rewrite": srv.accessCache.Bytes}
}
