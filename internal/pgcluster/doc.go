// Package pgcluster starts a real, throwaway PostgreSQL server for tests,
// the demo and benchmarks.
//
// phiguard sits on the wire between applications and PostgreSQL, so the
// only test oracle that counts is PostgreSQL itself: its authentication
// exchanges, its error codes, its TLS handshake. A fake server would agree
// with whatever we believe the protocol to be. Start therefore runs initdb
// and the postgres binary from a normal installation, in a private directory
// on a free loopback port, and Stop tears everything down again. Restart
// stops and starts the same server (same data, port and settings), for
// tests of what clients and the proxy see while PostgreSQL restarts.
// Options.Reuse starts again a data directory an earlier Start left in the
// caller's Dir (benchmarks keep a generated dataset that way).
//
// Settings favour speed over durability (fsync, synchronous_commit and
// full_page_writes are off): the data lives only as long as one test run.
// Authentication defaults to trust on the Unix socket, which the helpers
// here use, and SCRAM-SHA-256 over TCP, which is what the proxy sees.
//
// PostgreSQL refuses to run as root. Test containers and CI often run as
// root, so when the effective user is root the server processes run as the
// "postgres" OS user (or "nobody"), the directories they own are chowned to
// that user, and the ancestors of the cluster directory are made searchable
// for it.
//
// The postmaster is a direct child started with a parent-death signal, not
// a daemon started by pg_ctl, so a test binary that crashes or is killed
// takes its server with it instead of leaking one per run.
package pgcluster
