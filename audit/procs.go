package audit

import "github.com/phiguard/phiguard/config"

// SyncProcs is how many Ps (GOMAXPROCS) a process should add for an
// auditor configured as c: 1 when its file sink fsyncs, else 0.
//
// Why: the Go runtime does not hand a P to another thread when a goroutine
// enters a blocking system call; sysmon takes it back only after it has
// seen the call twice, which under a steady load of short network calls
// can be up to 10ms later. An fsync on a busy disk takes milliseconds, so
// on a 2-CPU host the audit writer's fsyncs parked one of the two Ps for a
// large share of the time and the sessions ran on the other alone
// (BENCHMARKS.md, audit section). The thread in fsync uses no CPU, so one
// more P gives the sessions back what the writer holds without
// oversubscribing the CPUs. The caller (serve) applies it, not this
// package: GOMAXPROCS is the process's to set.
func SyncProcs(c config.Audit) int {
	if c.Sink == config.AuditSinkFile && c.Fsync != config.AuditFsyncNone {
		return 1
	}
	return 0
}
