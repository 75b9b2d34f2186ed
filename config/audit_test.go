package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditCheckpointPath(t *testing.T) {
	a := DefaultAudit()
	a.Dir, a.FilePrefix = "/var/lib/phiguard/audit", "audit-pg1"
	if got := a.Checkpoint(); got != "/var/lib/phiguard/audit/audit-pg1.checkpoint" {
		t.Errorf("default: %q", got)
	}
	a.CheckpointFile = "/srv/anchor/pg1.checkpoint"
	if got := a.Checkpoint(); got != a.CheckpointFile {
		t.Errorf("set: %q", got)
	}
	a.CheckpointFile = AuditCheckpointNone
	if got := a.Checkpoint(); got != "" {
		t.Errorf("none: %q", got)
	}
	a.CheckpointFile, a.Sink = "", AuditSinkStdout
	if got := a.Checkpoint(); got != "" {
		t.Errorf("stdout: %q", got)
	}
}

func TestAuditSection(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "audit.good.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := cfg.Audit
	if a.FilePrefix != "audit-pg1" || a.FsyncInterval.Std() != 500*time.Millisecond || a.BatchDelay.Std() != 5*time.Millisecond || a.Alerts.PHIRowsPerUser != 5000 || a.Alerts.RefusalsPerUser != 0 || a.MaxSQLBytes != 4096 {
		t.Errorf("audit section not read as written: %+v", a)
	}
	// Keys left out keep their defaults.
	cfg, _ = Parse([]byte("audit:\n  dir: /tmp/x\n"))
	if cfg.Audit.QueueSize != DefaultAudit().QueueSize || cfg.Audit.Fsync != AuditFsyncBatch || !cfg.Audit.Alerts.BreakGlass {
		t.Errorf("audit defaults lost: %+v", cfg.Audit)
	}

	cfg, err = Load(filepath.Join("testdata", "audit.bad.yml"))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, w := range []string{
		`audit.sink: must be file, stdout or none, got "syslog"`,
		`audit.fsync: must be batch, interval or none, got "sometimes"`,
		"audit.queue_size: must be at least 1, got 0",
		"audit.batch_delay: must be between 0 and 1s, got 2s",
		"audit.key_id: is required",
		"audit.max_subject_ids: must not be negative",
		"audit.max_sql_bytes: must be at least 256, got 10",
		"audit.alerts.window: must be positive",
		"audit.alerts.phi_rows_per_user: must not be negative (0 disables)",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	cfg.Audit.Sink, cfg.Audit.CheckpointFile = AuditSinkStdout, "/x/cp"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "audit.checkpoint_file: needs audit.sink file (a stdout log begins a new chain at every start)") {
		t.Errorf("a checkpoint for stdout: %v", err)
	}
	cfg.Audit.Sink = AuditSinkFile
	err = cfg.Validate()
	for _, w := range []string{`audit.file_prefix: must be a non-empty file name without slashes, got "a/b"`, "audit.max_file_bytes: must be at least 1048576, got 10"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}
