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
//
// The RLS oracle (rls_oracle_*_test.go, docs/testing-rls-oracle.md) builds
// per restricted role a plaintext copy of that database restricted by
// PostgreSQL's row-level security and column privileges, and runs the
// adversarial suite and sqlsmith-generated statements through phiguard
// and straight against it: a row phiguard returns that RLS does not is a
// leak. PHIGUARD_RLS_STATEMENTS sets how many generated statements per
// role (2,000; make test-security 100,000).
//
// The ORM workloads (orm_test.go, orm/, docs/orm.md) run Django and
// SQLAlchemy models with encrypted PII once straight to PostgreSQL and once
// through phiguard, and compare every step's result. They need
// /usr/bin/python3 with Django, SQLAlchemy and psycopg2 (Debian packages);
// without them the test skips, and fails under CI=true.
// The driver matrix (drivers*_test.go, docs/drivers.md) runs one workload
// per client driver, written in the driver's language under drivers/
// (psycopg2 and psycopg 3, pgjdbc, node-postgres, ruby-pg) or in Go (pgx,
// lib/pq), in each of the driver's modes: straight to PostgreSQL on
// plaintext tables, then through phiguard on the same tables encrypted.
// The outputs must be identical and the encrypted tables ciphertext at
// rest. make test runs it as test-drivers; test-integration skips it.
package integration
