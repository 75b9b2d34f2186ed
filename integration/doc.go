// Package integration holds phiguard's end-to-end tests: a real PostgreSQL 15
// started by internal/pgcluster, phiguard in front of it, and real clients
// (pgx, psql, pgbench) talking through it.
//
// The tests need the PostgreSQL server binaries (PG_BIN, default
// /usr/lib/postgresql/15/bin). When they are missing the tests fail rather
// than skip, so a CI run cannot pass without having exercised the proxy.
//
// The access-policy suite (access_*_test.go) builds its own database,
// ehr_access, once per run: the demo EHR with the example policy's columns
// encrypted at rest, extended by testdata/access-ehr.sql, and enforced by
// testdata/access-policy.yml. One case of its adversarial table runs with
// -run 'TestAccessAdversarial/<name with _ for spaces>/simple'.
package integration
