package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Audit configures the audit trail (package audit, docs/audit.md).
type Audit struct {
	// Sink is where records go: file (default), stdout, or none. none is
	// for tests and demos only: a proxy without an audit trail is not one.
	Sink string `yaml:"sink"`
	// Dir holds the audit files of the file sink; created 0700 if missing.
	Dir string `yaml:"dir"`
	// FilePrefix starts every file name: <prefix>-<first seq>.jsonl. Give
	// each instance its own prefix (or Dir) when several share a volume.
	FilePrefix string `yaml:"file_prefix"`
	// CheckpointFile keeps the chain head (seq and MAC of the last durable
	// record) apart from the log, so that verify finds records cut from
	// the end of a log that is still open. Empty means
	// <dir>/<file_prefix>.checkpoint, which catches a cut made without
	// knowing of it; a path the log's owner cannot write (another volume
	// or account) catches theirs too. "none" turns it off. File sink only.
	CheckpointFile string `yaml:"checkpoint_file"`
	// MaxFileBytes rotates to a new file before a file would exceed it.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// Fsync is batch (fsync after every write, which carries every record
	// queued meanwhile), interval (every FsyncInterval) or none (leave it
	// to the OS).
	Fsync         string   `yaml:"fsync"`
	FsyncInterval Duration `yaml:"fsync_interval"`
	// BatchDelay is how long the writer, woken by a record, lets records
	// gather before one write (and, with fsync batch, one fsync) carries
	// them all. Nothing waits for it; it bounds the fsyncs per second and
	// what a host crash can take along. 0 writes at once.
	BatchDelay Duration `yaml:"batch_delay"`
	// QueueSize bounds the records waiting for the writer. When it is
	// full, statements that touch PHI are refused.
	QueueSize int `yaml:"queue_size"`
	// Instance names this proxy in every record; empty means the host name.
	Instance string `yaml:"instance"`
	// KeyID is the data key the chain's HMAC key is derived from.
	KeyID string `yaml:"key_id"`
	// MaxSubjectIDs bounds the subject ids listed per record; the rest
	// are counted.
	MaxSubjectIDs int `yaml:"max_subject_ids"`
	// MaxSQLBytes truncates the normalized SQL of a record (the
	// fingerprint is always of the whole text).
	MaxSQLBytes int         `yaml:"max_sql_bytes"`
	Alerts      AuditAlerts `yaml:"alerts"`
}

// AuditAlerts are the thresholds that make the auditor write an alert
// record. A threshold of 0 disables that alert.
type AuditAlerts struct {
	// Window is the tumbling window per user the counts are kept in.
	Window Duration `yaml:"window"`
	// PHIRowsPerUser alerts when one user reads more rows carrying
	// protected columns than this within a window (bulk export).
	PHIRowsPerUser int64 `yaml:"phi_rows_per_user"`
	// RefusalsPerUser alerts when one user is refused more often than
	// this within a window.
	RefusalsPerUser int64 `yaml:"refusals_per_user"`
	// BreakGlass alerts on every break-glass.
	BreakGlass bool `yaml:"break_glass"`
}

// Audit sinks and fsync policies.
const (
	AuditSinkFile   = "file"
	AuditSinkStdout = "stdout"
	AuditSinkNone   = "none"

	// AuditCheckpointNone as audit.checkpoint_file turns the checkpoint off.
	AuditCheckpointNone = "none"

	AuditFsyncBatch    = "batch"
	AuditFsyncInterval = "interval"
	AuditFsyncNone     = "none"
)

// DefaultAudit is the audit section used when the file leaves it out.
func DefaultAudit() Audit {
	return Audit{
		Sink:          AuditSinkFile,
		Dir:           "audit",
		FilePrefix:    "audit",
		MaxFileBytes:  100 << 20,
		Fsync:         AuditFsyncBatch,
		FsyncInterval: Duration(time.Second),
		BatchDelay:    Duration(10 * time.Millisecond),
		QueueSize:     65536,
		KeyID:         "audit",
		MaxSubjectIDs: 50,
		MaxSQLBytes:   8192,
		Alerts: AuditAlerts{
			Window:          Duration(5 * time.Minute),
			PHIRowsPerUser:  10000,
			RefusalsPerUser: 20,
			BreakGlass:      true,
		},
	}
}

// Checkpoint is the checkpoint file the auditor writes: CheckpointFile,
// or its default next to the log; empty when there is none.
func (a Audit) Checkpoint() string {
	switch {
	case a.Sink != AuditSinkFile || a.CheckpointFile == AuditCheckpointNone:
		return ""
	case a.CheckpointFile != "":
		return a.CheckpointFile
	}
	return filepath.Join(a.Dir, a.FilePrefix+".checkpoint")
}

func (a Audit) validate(add func(string, string, ...any)) {
	switch a.Sink {
	case AuditSinkFile:
		if a.Dir == "" {
			add("audit.dir", "is required when audit.sink is file")
		}
		if a.FilePrefix == "" || strings.ContainsAny(a.FilePrefix, `/\`) {
			add("audit.file_prefix", "must be a non-empty file name without slashes, got %q", a.FilePrefix)
		}
		if a.MaxFileBytes < 1<<20 {
			add("audit.max_file_bytes", "must be at least 1048576, got %d", a.MaxFileBytes)
		}
	case AuditSinkStdout, AuditSinkNone:
		if a.CheckpointFile != "" && a.CheckpointFile != AuditCheckpointNone {
			add("audit.checkpoint_file", "needs audit.sink file (a %s log begins a new chain at every start)", a.Sink)
		}
	default:
		add("audit.sink", "must be file, stdout or none, got %q", a.Sink)
	}
	switch a.Fsync {
	case AuditFsyncBatch, AuditFsyncNone:
	case AuditFsyncInterval:
		if a.FsyncInterval <= 0 {
			add("audit.fsync_interval", "must be positive when audit.fsync is interval")
		}
	default:
		add("audit.fsync", "must be batch, interval or none, got %q", a.Fsync)
	}
	if a.BatchDelay < 0 || a.BatchDelay > Duration(time.Second) {
		add("audit.batch_delay", "must be between 0 and 1s, got %s", a.BatchDelay.Std())
	}
	if a.QueueSize < 1 {
		add("audit.queue_size", "must be at least 1, got %d", a.QueueSize)
	}
	if a.KeyID == "" {
		add("audit.key_id", "is required")
	}
	if a.MaxSubjectIDs < 0 {
		add("audit.max_subject_ids", "must not be negative")
	}
	if a.MaxSQLBytes < 256 {
		add("audit.max_sql_bytes", "must be at least 256, got %d", a.MaxSQLBytes)
	}
	if a.Alerts.Window <= 0 {
		add("audit.alerts.window", "must be positive")
	}
	if a.Alerts.PHIRowsPerUser < 0 {
		add("audit.alerts.phi_rows_per_user", "must not be negative (0 disables)")
	}
	if a.Alerts.RefusalsPerUser < 0 {
		add("audit.alerts.refusals_per_user", "must not be negative (0 disables)")
	}
}
