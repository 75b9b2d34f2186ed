package keywatch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the watcher's Prometheus series. A nil *Metrics counts
// nothing.
type Metrics struct {
	state       *prometheus.GaugeVec
	rechecks    *prometheus.CounterVec
	withdrawals *prometheus.CounterVec
}

// NewMetrics registers the series with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "phiguard_keys_state",
			Help: "1 for the state the keys are in: serving, offline (the key service does not answer; serving from memory for the grace) or withdrawn."}, []string{"state"}),
		rechecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phiguard_keys_rechecks_total",
			Help: "Re-validations of the keys with the key service, by result: ok, unavailable or refused."}, []string{"result"}),
		withdrawals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phiguard_keys_withdrawals_total",
			Help: "Times the keys were withdrawn, by reason: refused (a definite refusal) or offline_grace (no answer for longer than the grace)."}, []string{"reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.state, m.rechecks, m.withdrawals} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) setState(s State) {
	if m == nil {
		return
	}
	for _, x := range []State{Serving, Offline, Withdrawn} {
		v := 0.0
		if x == s {
			v = 1
		}
		m.state.WithLabelValues(string(x)).Set(v)
	}
}

func (m *Metrics) recheck(result string) {
	if m != nil {
		m.rechecks.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) withdrawal(reason string) {
	if m != nil {
		m.withdrawals.WithLabelValues(reason).Inc()
	}
}
