// Package admin serves phiguard's operator endpoints over HTTP: /metrics
// for Prometheus, /healthz and /readyz. It knows nothing of the wire
// protocol, the keys or the audit trail; the binary hands it a ReadyCheck
// that asks them.
//
// /healthz is liveness only: the process is up and its HTTP server
// answers. Nothing it depends on is asked, so an orchestrator restarts
// phiguard only when phiguard itself is stuck, never for a database or
// key service outage a restart cannot fix.
//
// /readyz is 200 "ready" when a client connecting now would be served as
// it should be, and 503 "not ready: <reason>" otherwise. The reason is a
// short fixed phrase (NotReady.Reason: "backend unreachable", "keys
// withdrawn", …); the error behind it, which may name addresses and
// paths, goes to the log only. One check is bounded by 3 s.
//
// Readiness wraps the check and keeps its latest outcome in metrics
// (phiguard_ready, phiguard_not_ready{reason},
// phiguard_readiness_checks_total{result}); it runs the check at every
// /readyz request and at every scrape, so the metrics are current when
// nothing probes.
package admin
