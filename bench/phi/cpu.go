package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TPS on a 2-core machine moves by ±10 % from run to run, because
// pgbench, PostgreSQL and phiguard share the cores and a checkpoint or an
// autovacuum lands in one target's window and not another's. CPU time per
// transaction moves far less, and says where a target's extra cost is: in
// phiguard (this process: the proxies run in it), in PostgreSQL (its
// backends and autovacuum workers, counted when the postmaster reaps them)
// or in pgbench (a child of this process).

// cpuUse is CPU time consumed so far by each party, and the read and
// write system calls this process made (/proc/self/io): a proxy's cost is
// mostly system calls, so a change in their number shows there.
type cpuUse struct {
	proxy, pgbench, db time.Duration
	reads, writes      int64
	// allocs are this process's heap allocations (runtime.MemStats'
	// Mallocs): unlike CPU time they do not move with the machine's load,
	// so a change on the hot path shows in them run to run.
	allocs int64
}

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on
// every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// sampleCPU reads the CPU time of this process, of its waited-for children
// and of the postmaster whose data directory is dataDir.
func sampleCPU(dataDir string) cpuUse {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	reads, writes := selfSyscalls()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return cpuUse{proxy: rusageTime(self), pgbench: rusageTime(children), db: postmasterCPU(dataDir), reads: reads, writes: writes,
		allocs: int64(ms.Mallocs)}
}

// selfSyscalls reads syscr and syscw from /proc/self/io; 0 if it cannot.
func selfSyscalls() (reads, writes int64) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		switch name {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes
}

func rusageTime(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// postmasterCPU is the postmaster's own CPU time and that of its reaped
// children (utime, stime, cutime, cstime); 0 if it cannot be read.
func postmasterCPU(dataDir string) time.Duration {
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _, _ := strings.Cut(string(pidFile), "\n")
	stat, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in ")".
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, s := range f[11:15] { // utime stime cutime cstime: fields 14–17
		n, _ := strconv.ParseInt(s, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

func (a cpuUse) sub(b cpuUse) cpuUse {
	return cpuUse{proxy: a.proxy - b.proxy, pgbench: a.pgbench - b.pgbench, db: a.db - b.db,
		reads: a.reads - b.reads, writes: a.writes - b.writes, allocs: a.allocs - b.allocs}
}

func (a cpuUse) add(b cpuUse) cpuUse {
	return cpuUse{proxy: a.proxy + b.proxy, pgbench: a.pgbench + b.pgbench, db: a.db + b.db,
		reads: a.reads + b.reads, writes: a.writes + b.writes, allocs: a.allocs + b.allocs}
}

// perTransaction formats CPU µs per transaction for the report's table.
func (a cpuUse) perTransaction(txns int) string {
	if txns == 0 {
		return "– | – | – | – | – | –"
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(txns) }
	perTxn := func(n int64) float64 { return float64(n) / float64(txns) }
	return fmt.Sprintf("%.0f | %.0f | %.0f | %.0f | %.1f / %.1f | %.1f", us(a.proxy), us(a.db), us(a.pgbench), us(a.proxy+a.db+a.pgbench),
		perTxn(a.reads), perTxn(a.writes), perTxn(a.allocs))
}
