// Package integration holds phiguard's end-to-end tests: a real PostgreSQL 15
// started by internal/pgcluster, phiguard in front of it, and real clients
// (pgx, psql, pgbench) talking through it.
//
// The tests need the PostgreSQL server binaries (PG_BIN, default
// /usr/lib/postgresql/15/bin). When they are missing the tests fail rather
// than skip, so a CI run cannot pass without having exercised the proxy.
package integration
