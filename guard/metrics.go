package guard

import (
	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the wire path's Prometheus collectors. They are registered on
// an injected Registerer, never the global one, so tests can run several
// proxies in one process.
type Metrics struct {
	ConnectionsActive prometheus.Gauge
	ConnectionsTotal  prometheus.Counter
	// ConnectionsRefused counts connections ended before a session was
	// established, by reason: tls_required, protocol, startup_setting,
	// startup_timeout, too_many, too_many_starting, too_many_from_source,
	// backend_unreachable, backend_auth_timeout, backend_too_many,
	// backend_not_accepting (the database starting up or shutting down),
	// silent_taken_over (admission.go's takeSilent),
	// auth_failed, shutting_down.
	ConnectionsRefused *prometheus.CounterVec
	// ConnectionsStarting counts connections accepted and not yet
	// authenticated, the ones limits.max_startup_connections caps.
	ConnectionsStarting prometheus.Gauge
	// AcceptErrors counts failed Accepts by reason (emfile, enfile,
	// enobufs, timeout, other); the loop backs off and goes on.
	AcceptErrors *prometheus.CounterVec
	// StartupLogSuppressed counts log lines of failed startups left out by
	// the rate limit (startlog.go); the failures are still counted above.
	StartupLogSuppressed prometheus.Counter

	BytesClientToBackend prometheus.Counter
	BytesBackendToClient prometheus.Counter
	Errors               *prometheus.CounterVec
	CacheHits            prometheus.Counter
	CacheMisses          prometheus.Counter
	// ParseGateWaits counts statements that waited for the parse gate
	// (parsegate.go).
	ParseGateWaits    prometheus.Counter
	StatementDuration prometheus.Histogram
	CancelRequests    *prometheus.CounterVec
	// BreakGlass counts granted break-glass requests, by role.
	BreakGlass *prometheus.CounterVec
	// PolicyReloads counts policy reloads, by result (accepted, rejected).
	PolicyReloads *prometheus.CounterVec
	// ShreddedReads counts cells read whose subject key was shredded.
	ShreddedReads prometheus.Counter
	// MovedCells counts cells refused because they were sealed for another
	// subject than their row's (protect_bind.go).
	MovedCells prometheus.Counter
	// SearchRounds counts the rounds after the first of statements
	// served through an order term (protect_rounds.go).
	SearchRounds prometheus.Counter
	// CatalogReadsForOtherDDL counts catalog reads a session made because
	// another session of its database ran DDL (catalog_epoch.go).
	CatalogReadsForOtherDDL prometheus.Counter
	// CatalogReadsForAge counts catalog reads a session made because its
	// catalog was older than limits.catalog_max_age (catalog_epoch.go).
	CatalogReadsForAge prometheus.Counter
	// CatalogReadsCoalesced counts those of CatalogReadsForOtherDDL a
	// session did not make: it took another session's read of the same
	// catalog instead (catalog_coalesce.go).
	CatalogReadsCoalesced prometheus.Counter
	// CatalogNames counts whole catalog reads by what became of their
	// database-wide names (catalog_shared.go): shared (the database's
	// latest, built from the same rows, took their place) or published
	// (they became the database's latest).
	CatalogNames *prometheus.CounterVec

	statements [16]prometheus.Counter // one per sqlrewrite.Kind, pre-resolved
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ConnectionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phiguard_proxy_connections_active",
			Help: "Client sessions currently open.",
		}),
		ConnectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_proxy_connections_total",
			Help: "Client connections accepted, including cancel requests and refused ones.",
		}),
		ConnectionsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiguard_proxy_connections_refused_total",
			Help: "Client connections ended before a session was established, by reason.",
		}, []string{"reason"}),
		BytesClientToBackend: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_proxy_client_to_backend_bytes_total",
			Help: "Protocol bytes forwarded from clients to the backend.",
		}),
		BytesBackendToClient: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_proxy_backend_to_client_bytes_total",
			Help: "Protocol bytes forwarded from the backend to clients.",
		}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiguard_proxy_errors_total",
			Help: "ErrorResponses sent to clients, by SQLSTATE class and by who raised them (backend or phiguard).",
		}, []string{"sqlstate_class", "source"}),
		CacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_sqlrewrite_cache_hits_total",
			Help: "Statements whose analysis was found in the parse cache.",
		}),
		CacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_sqlrewrite_cache_misses_total",
			Help: "Statements that had to be parsed because the parse cache lacked them.",
		}),
		ParseGateWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_sqlrewrite_parse_gate_waits_total",
			Help: "Statements over 4 KiB that waited for others to be analysed first (limits.parse_inflight_bytes).",
		}),
		StatementDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "phiguard_proxy_statement_duration_seconds",
			Help:    "Time from a Query or Sync reaching phiguard to the backend's ReadyForQuery for it.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}),
		CancelRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiguard_proxy_cancel_requests_total",
			Help: "Cancel requests received, by outcome (forwarded, unknown_key, failed).",
		}, []string{"outcome"}),
		ShreddedReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_proxy_shredded_cells_read_total",
			Help: "Cells read whose subject key was shredded, returned as NULL or the configured marker.",
		}),
		MovedCells: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_proxy_moved_cells_total",
			Help: "Cells refused (XX001) because they were sealed for another subject than their row's subject column says.",
		}),
	}
	m.BreakGlass = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phiguard_break_glass_total",
		Help: "Sessions that lifted their role's row rules with SET phiguard.break_glass, by role.",
	}, []string{"role"})
	m.PolicyReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phiguard_policy_reload_total",
		Help: "Policy reloads (SIGHUP or a changed file), by result: accepted or rejected.",
	}, []string{"result"})
	statements := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phiguard_proxy_statements_total",
		Help: "Statements received from clients (simple Query or extended Parse), by kind.",
	}, []string{"kind"})
	for _, k := range sqlrewrite.AllKinds() {
		m.statements[k] = statements.WithLabelValues(k.String())
	}
	m.newAdmissionMetrics()
	m.newSearchMetrics(reg)
	reg.MustRegister(m.ConnectionsActive, m.ConnectionsTotal, m.ConnectionsRefused,
		m.ConnectionsStarting, m.AcceptErrors, m.StartupLogSuppressed,
		m.BytesClientToBackend, m.BytesBackendToClient, m.Errors, m.CacheHits,
		m.CacheMisses, m.ParseGateWaits, m.StatementDuration, m.CancelRequests, m.ShreddedReads, m.MovedCells, m.BreakGlass, m.PolicyReloads, statements)
	return m
}

// newAdmissionMetrics creates the collectors of connection admission
// (admission.go, startlog.go).
func (m *Metrics) newAdmissionMetrics() {
	m.ConnectionsStarting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "phiguard_proxy_connections_starting",
		Help: "Client connections accepted and not yet authenticated.",
	})
	m.AcceptErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phiguard_proxy_accept_errors_total",
		Help: "Failed accepts of client connections, by reason; phiguard backs off and keeps accepting.",
	}, []string{"reason"})
	m.StartupLogSuppressed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "phiguard_proxy_startup_log_suppressed_total",
		Help: "Log lines about failed or refused startups left out by the rate limit.",
	})
}

func (m *Metrics) countStatement(k sqlrewrite.Kind) {
	if int(k) < len(m.statements) && m.statements[k] != nil {
		m.statements[k].Inc()
	}
}

// newSearchMetrics creates and registers the collectors of search
// through terms (protect_rounds.go).
func (m *Metrics) newSearchMetrics(reg prometheus.Registerer) {
	m.SearchRounds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "phiguard_proxy_search_rounds_total",
		Help: "Rounds after the first of statements whose ORDER BY ... LIMIT the database served through an order search term: each ran the statement again with a larger FETCH FIRST.",
	})
	m.CatalogReadsForOtherDDL = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "phiguard_proxy_catalog_reads_for_other_sessions_ddl_total",
		Help: "Catalog reads a session made before its next request because another session of its database ran DDL through phiguard.",
	})
	m.CatalogNames = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phiguard_proxy_catalog_names_total",
		Help: "Whole catalog reads by what became of their names of relations and columns: shared (the database's latest snapshot, read from the same rows, took their place) or published (they became the database's latest).",
	}, []string{"result"})
	m.CatalogReadsForAge = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "phiguard_proxy_catalog_reads_for_age_total",
		Help: "Catalog reads a session made before its next request because its catalog was older than limits.catalog_max_age.",
	})
	m.CatalogReadsCoalesced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "phiguard_proxy_catalog_reads_coalesced_total",
		Help: "Of the catalog reads counted by phiguard_proxy_catalog_reads_for_other_sessions_ddl_total, those a session did not make: it took the catalog another session of the same role, search path and settings read after the same DDL (limits.catalog_coalesce).",
	})
	reg.MustRegister(m.SearchRounds, m.CatalogReadsForOtherDDL, m.CatalogNames, m.CatalogReadsForAge, m.CatalogReadsCoalesced)
}
