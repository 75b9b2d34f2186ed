package audit

import (
	"io"
	"os"

	"github.com/phiguard/phiguard/config"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Open starts an auditor as the configuration's audit section says. key
// is the chain key, derived by the caller from the key provider's data
// key c.KeyID with DeriveKey.
func Open(c config.Audit, key MACKey, log *zap.Logger, reg prometheus.Registerer) (*Auditor, error) {
	o := Options{
		Instance:    c.Instance,
		Key:         key,
		QueueSize:   c.QueueSize,
		MaxSQLBytes: c.MaxSQLBytes,
		Alerts: AlertOptions{
			Window:          c.Alerts.Window.Std(),
			PHIRowsPerUser:  c.Alerts.PHIRowsPerUser,
			RefusalsPerUser: c.Alerts.RefusalsPerUser,
			BreakGlass:      c.Alerts.BreakGlass,
		},
		Logger:     log,
		Registerer: reg,
	}
	o.BatchDelay = c.BatchDelay.Std()
	if o.BatchDelay == 0 {
		o.BatchDelay = -1 // configured off, not left to New's default
	}
	if c.Fsync == config.AuditFsyncInterval {
		o.SyncInterval = c.FsyncInterval.Std()
	}
	switch c.Sink {
	case config.AuditSinkStdout:
		o.Sink = NewWriterSink(os.Stdout)
	case config.AuditSinkNone:
		o.Sink = NewWriterSink(io.Discard)
	default:
		o.Sink = NewFileSink(FileOptions{Dir: c.Dir, Prefix: c.FilePrefix, MaxBytes: c.MaxFileBytes, SyncEachWrite: c.Fsync == config.AuditFsyncBatch})
	}
	if p := c.Checkpoint(); p != "" {
		o.Checkpoint = FileCheckpoint{Path: p}
	}
	return New(o)
}
