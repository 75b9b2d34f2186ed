package admin

import (
	"context"
	"fmt"
	"net/http"
	httppprof "net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// ReadyCheck reports why the service is not ready, or nil when it is.
type ReadyCheck func(ctx context.Context) error

// NotReady is a ReadyCheck's answer with a reason fit for the probe's
// body ("backend unreachable", "keys withdrawn"); Err, which may name
// addresses and paths, goes to the log only.
type NotReady struct {
	Reason string
	Err    error
}

func (e *NotReady) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *NotReady) Unwrap() error { return e.Err }

// readyTimeout bounds one readiness probe, well under a kubelet's default.
const readyTimeout = 3 * time.Second

// Handler returns the admin HTTP handler. With pprof, Go's profiler is
// served under /debug/pprof/ as well. ready is usually a Readiness's
// Check, so that every probe's outcome is in the metrics.
func Handler(g prometheus.Gatherer, ready ReadyCheck, log *zap.Logger, pprof bool) http.Handler {
	mux := http.NewServeMux()
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			// The error goes to the log; the probe gets the reason's
			// name only, no addresses or paths.
			reason := Reason(err)
			log.Warn("not ready", zap.String("reason", reason), zap.Error(err))
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// NewServer returns an http.Server for the admin endpoints on addr.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
	}
}
