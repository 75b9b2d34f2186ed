package admin

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// reasonUnknown labels a failed check whose error is not a *NotReady.
const reasonUnknown = "unknown"

// Readiness runs a ReadyCheck for /readyz and keeps the outcome of the
// latest run in metrics:
//
//	phiguard_ready                           1 when the latest check passed, else 0
//	phiguard_not_ready{reason}               1 for the reason the latest check failed on, 0 for the others
//	phiguard_readiness_checks_total{result}  checks run, by result: "ready" or the reason
//
// A check runs at every /readyz request and at every scrape of /metrics,
// so the gauges are current whether or not anything probes.
type Readiness struct {
	check   ReadyCheck
	ready   prometheus.Gauge
	reason  *prometheus.GaugeVec
	checks  *prometheus.CounterVec
	mu      sync.Mutex // orders the gauge updates of concurrent checks
	reasons []string
}

// NewReadiness wraps check. reasons are the NotReady reasons check can
// give; their series exist from the start, at 0. When reg is not nil the
// metrics are registered on it, and a scrape runs the check.
func NewReadiness(check ReadyCheck, reg prometheus.Registerer, reasons ...string) (*Readiness, error) {
	r := &Readiness{
		check: check,
		ready: prometheus.NewGauge(prometheus.GaugeOpts{Name: "phiguard_ready",
			Help: "1 when the latest readiness check passed (what /readyz answers), else 0."}),
		reason: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "phiguard_not_ready",
			Help: "1 for the reason the latest readiness check failed on, 0 for every other reason."}, []string{"reason"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phiguard_readiness_checks_total",
			Help: "Readiness checks run (by /readyz and by scrapes), by result: ready, or the reason they failed."}, []string{"result"}),
		reasons: append([]string{reasonUnknown}, reasons...),
	}
	r.checks.WithLabelValues("ready")
	for _, why := range r.reasons {
		r.reason.WithLabelValues(why)
		r.checks.WithLabelValues(why)
	}
	if reg != nil {
		if err := reg.Register(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Check runs the check and records its outcome. It is a ReadyCheck.
func (r *Readiness) Check(ctx context.Context) error {
	err := r.check(ctx)
	why := ""
	if err != nil {
		why = Reason(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.ready.Set(1)
		r.checks.WithLabelValues("ready").Inc()
	} else {
		r.ready.Set(0)
		r.checks.WithLabelValues(why).Inc()
		r.note(why)
	}
	for _, other := range r.reasons {
		if other != why {
			r.reason.WithLabelValues(other).Set(0)
		}
	}
	if why != "" {
		r.reason.WithLabelValues(why).Set(1)
	}
	return err
}

// note adds a reason not declared to NewReadiness to those reset.
func (r *Readiness) note(why string) {
	for _, known := range r.reasons {
		if known == why {
			return
		}
	}
	r.reasons = append(r.reasons, why)
}

// Reason is the probe-safe reason of a ReadyCheck's error: a NotReady's
// Reason, or "unknown".
func Reason(err error) string {
	var nr *NotReady
	if errors.As(err, &nr) {
		return nr.Reason
	}
	return reasonUnknown
}

// Describe implements prometheus.Collector.
func (r *Readiness) Describe(ch chan<- *prometheus.Desc) {
	r.ready.Describe(ch)
	r.reason.Describe(ch)
	r.checks.Describe(ch)
}

// Collect implements prometheus.Collector: it runs a check, then reports.
func (r *Readiness) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	r.Check(ctx)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ready.Collect(ch)
	r.reason.Collect(ch)
	r.checks.Collect(ch)
}
