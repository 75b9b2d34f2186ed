// Package admin serves phiguard's operator endpoints over HTTP: /metrics
// for Prometheus, /healthz (the process is up) and /readyz (the process can
// do its job: the backend accepts connections). It knows nothing of the
// wire protocol; the proxy hands it a readiness check.
package admin
