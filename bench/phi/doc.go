// Command phi is the PHI workload benchmark of `make bench`: a transaction
// of INSERT, SELECT by equality on a deterministic column, UPDATE and
// SELECT on a patients table with four protected columns, run with pgbench
// through two phiguard instances in one process — one with the columns
// protected (keys from a Vault, here the emulator), one plain — alternating
// in one run. It prints median TPS for each and their ratio, and the Vault
// requests made at start-up and during the run (they must not grow with
// rows). Timing is reported, never asserted.
//
// Environment: BENCH_SECONDS (10), BENCH_REPS (3), BENCH_CLIENTS (8),
// BENCH_OUT (bench/phi-last-run.md), BENCH_PG_DURABLE (set: PostgreSQL
// with fsync and synchronous_commit on, as in production); for the audited target
// BENCH_AUDIT_FSYNC (batch, interval, none) and BENCH_AUDIT_BATCH_DELAY
// (a Go duration; default the config's). For profiling: BENCH_CPUPROFILE
// (a file for the CPU profile of one target's runs), BENCH_PROFILE_TARGET
// (protected, the default, or plain, audited, ruled) and BENCH_MEMPROFILE
// (a file for the allocations made up to the end of that target's runs;
// BENCH_MEMPROFILE.before holds those made before them, for pprof's
// -diff_base). The CPU table also gives phiguard's heap allocations per
// transaction, which, unlike CPU time, the machine's load does not move.
package main
