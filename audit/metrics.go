package audit

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	records     *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	lost        prometheus.Counter
	writeErrors prometheus.Counter
	bytes       prometheus.Counter
	alerts      *prometheus.CounterVec
	healthy     prometheus.Gauge

	checkpointSeq    prometheus.Gauge
	checkpointErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, queueDepth func() float64, queueCap int) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiguard_audit_records_total",
			Help: "Audit records written to the sink, by event.",
		}, []string{"event"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiguard_audit_records_rejected_total",
			Help: "Records Record refused because the audit log was unavailable (unhealthy) or its queue full; the caller was told and refuses PHI statements.",
		}, []string{"reason"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_audit_records_lost_total",
			Help: "Accepted records still unwritten when Close gave up; zero unless the sink stayed broken through shutdown.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_audit_write_errors_total",
			Help: "Failed writes or syncs of the audit sink (each is retried).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_audit_bytes_total",
			Help: "Bytes of audit records written to the sink.",
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiguard_audit_alerts_total",
			Help: "Alert records written, by kind (phi_rows, refusals, break_glass).",
		}, []string{"kind"}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phiguard_audit_healthy",
			Help: "1 while the audit log accepts records, 0 while it is unavailable and PHI statements are refused.",
		}),
		checkpointSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phiguard_audit_checkpoint_seq",
			Help: "Seq of the chain head last stored in the audit checkpoint (0: none stored by this process, or no checkpoint configured).",
		}),
		checkpointErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phiguard_audit_checkpoint_errors_total",
			Help: "Failed stores of the audit checkpoint (each is retried); while they fail, records cut from the log's end after the last checkpoint go unnoticed.",
		}),
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "phiguard_audit_queue_depth",
		Help: "Records waiting for the audit writer.",
	}, queueDepth)
	capacity := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "phiguard_audit_queue_capacity",
		Help: "Records the audit queue holds before Record refuses.",
	})
	capacity.Set(float64(queueCap))
	for _, k := range []string{AlertPHIRows, AlertRefusals, AlertBreakGlass} {
		m.alerts.WithLabelValues(k)
	}
	for _, r := range []string{"unhealthy", "queue_full", "closed"} {
		m.rejected.WithLabelValues(r)
	}
	m.healthy.Set(1)
	if reg != nil {
		reg.MustRegister(m.records, m.rejected, m.lost, m.writeErrors, m.bytes, m.alerts, m.healthy, depth, capacity, m.checkpointSeq, m.checkpointErrors)
	}
	return m
}
