# phiguard's developer entry points. `make test` is what CI runs.
GO      ?= go
FUZZTIME ?= 30s
BIN     := bin/phiguard

.PHONY: bench-catalog build demo demo-smoke test test-unit test-integration test-drivers test-soak-sample test-pgx test-vault test-backfill test-security test-transparency test-plan-reuse soak bench bench-search fuzz lint

build:
	$(GO) build -o $(BIN) ./cmd/phiguard

# demo: a throwaway PostgreSQL loaded with the Synthea sample (patients
# encrypted through phiguard), phiguard in front of it on 127.0.0.1:6432 with
# a local keyring, examples/demo-policy.yml and the audit trail on; Ctrl-C
# removes everything.
demo:
	$(GO) run ./cmd/phiguard demo

# demo-smoke: the same, but runs the demo's checks (roles, ciphertext at
# rest, audit chain) and exits non-zero on any failure.
demo-smoke:
	$(GO) run ./cmd/phiguard demo --smoke --listen 127.0.0.1:0 --admin 127.0.0.1:0

# test: everything CI checks — lint, unit and integration tests against a
# real PostgreSQL, the demo, and pgx's own test suite through phiguard.
test: lint test-unit test-integration test-drivers test-soak-sample demo-smoke test-pgx

# Unit and integration tests run under the race detector: the two pumps of
# a session share state, and -race is how that sharing stays honest.
test-unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e /integration -e /soak)

test-integration:
	$(GO) test -race -count=1 -timeout 20m -skip '^TestDriverMatrix$$' ./integration/...

# test-drivers: the driver matrix (docs/drivers.md), each client driver's
# workload directly on plaintext tables and through phiguard on encrypted
# ones; prints each driver's wall time. Needs python3-psycopg2,
# python3-psycopg, libpostgresql-jdbc-java with a JDK, ruby-pg, and node
# with npm (npm ci fetches the pinned node-postgres once).
test-drivers:
	$(GO) test -race -count=1 -timeout 10m -v -run '^TestDriverMatrix$$' ./integration

test-pgx:
	bash integration/pgxsuite/run.sh

# test-soak-sample: the chaos soak (docs/soak.md) on a fixed seed for 45 s
# with 20 clients and 2,000 idle sockets; prints its figures. The test
# process runs under -race, phiguard (a subprocess) without.
test-soak-sample:
	$(GO) test -race -count=1 -v -timeout 15m ./soak

# soak: the full chaos soak, 10 minutes with 200 clients and 20,000 idle
# sockets per action, loopback only. Needs root for the audit tmpfs (and
# ../shared/bin/bao or PHIGUARD_BAO for OpenBao). Any PHIGUARD_SOAK_*
# variable set in the environment wins over these.
PHIGUARD_SOAK_DURATION     ?= 10m
PHIGUARD_SOAK_CLIENTS      ?= 200
PHIGUARD_SOAK_IDLE_SOCKETS ?= 20000
PHIGUARD_SOAK_AUDIT_MB     ?= 3072
soak:
	PHIGUARD_SOAK_DURATION=$(PHIGUARD_SOAK_DURATION) PHIGUARD_SOAK_CLIENTS=$(PHIGUARD_SOAK_CLIENTS) \
	PHIGUARD_SOAK_IDLE_SOCKETS=$(PHIGUARD_SOAK_IDLE_SOCKETS) PHIGUARD_SOAK_AUDIT_MB=$(PHIGUARD_SOAK_AUDIT_MB) \
	PHIGUARD_SOAK_RSS_SLACK_MB=0 $(GO) test -count=1 -v -timeout 45m ./soak

# test-backfill: the backfill, re-encryption, retire and shred-after-backfill
# scenarios on 100,000 generated patients (make test runs them on 5,000);
# prints rows/s.
test-backfill:
	PHIGUARD_BACKFILL_PATIENTS=100000 $(GO) test -count=1 -timeout 30m -v -run 'TestEncryptKill|TestNoPrimaryKey|TestSubjectSealing' ./backfill
	PHIGUARD_BACKFILL_PATIENTS=100000 $(GO) test -count=1 -timeout 30m -v -run 'TestBackfillUnderConcurrentWrites|TestBackfillShredUnderLoad' ./integration

# test-security: the RLS oracle (docs/testing-rls-oracle.md) on
# PHIGUARD_RLS_STATEMENTS sqlsmith statements per role (100,000 unless set;
# make test runs 2,000) and the adversarial suite; prints the counts per
# role and fails on any leak. Needs sqlsmith (apt-get install sqlsmith).
PHIGUARD_RLS_STATEMENTS ?= 100000
test-security:
	PHIGUARD_RLS_STATEMENTS=$(PHIGUARD_RLS_STATEMENTS) $(GO) test -count=1 -timeout 12h -v -run 'TestRLSOracle' ./integration

# test-transparency: the transparency check (docs/testing-rls-oracle.md)
# on PHIGUARD_TRANSPARENCY_STATEMENTS sqlsmith statements (100,000 unless
# set; make test runs 2,000) and the hand-written corpus: each in both
# protocols on the plaintext EHR directly and on the encrypted one through
# phiguard; prints the counts and the refusals per construct, and fails on
# any different answer. Needs sqlsmith (apt-get install sqlsmith).
PHIGUARD_TRANSPARENCY_STATEMENTS ?= 100000
test-transparency:
	PHIGUARD_TRANSPARENCY_STATEMENTS=$(PHIGUARD_TRANSPARENCY_STATEMENTS) $(GO) test -count=1 -timeout 12h -v -run 'TestTransparency' ./integration

# test-plan-reuse: the plan reuse differential (docs/search.md, "Plan
# reuse") on PHIGUARD_PLAN_REUSE_STATEMENTS generated statements (2,000
# unless set; make test runs 100), with setting changes seen and unseen.
PHIGUARD_PLAN_REUSE_STATEMENTS ?= 2000
test-plan-reuse:
	PHIGUARD_PLAN_REUSE_STATEMENTS=$(PHIGUARD_PLAN_REUSE_STATEMENTS) $(GO) test -count=1 -timeout 30m -v -run 'TestPlanReuseDifferential$$' ./integration

# test-vault: keys/vault's tests against a real Vault as well as the
# emulator. Needs VAULT_ADDR and VAULT_TOKEN; the Vault setup commands are in
# keys/vault/doc.go (go doc ./keys/vault).
test-vault:
	@if [ -z "$$VAULT_ADDR" ] || [ -z "$$VAULT_TOKEN" ]; then \
		echo "test-vault: set VAULT_ADDR and VAULT_TOKEN (Vault setup: go doc ./keys/vault)" >&2; exit 2; fi
	$(GO) test -count=1 -v ./keys/vault

# bench compares PostgreSQL direct, PgBouncer and phiguard with pgbench (needs root).
bench:
	bash bench/pgbench.sh
	$(GO) run ./bench/phi
	$(GO) test -run '^$$' -bench . -benchmem ./proxy ./guard ./sqlrewrite

# bench-search: issue 13's search queries on 1,000,000 generated patients,
# through phiguard on encrypted columns against plaintext with its indexes
# (bench/search; BENCH_PATIENTS, BENCH_RUNS, BENCH_KEEP=dir keeps the loaded
# cluster for the next run, BENCH_QUERIES=4,5 runs some). make test runs a
# 2,000-patient sample of it (TestSearchSample), which checks answers only.
bench-search:
	$(GO) run ./bench/search

# bench-catalog: the catalog's memory across 50 sessions of a database of
# 10,000 tables (shared names, docs/catalog.md) and the cost to a session
# of another session's DDL in a loop (the DDL epoch; PHIGUARD_RT34_MODE,
# _DDL, _TABLES, _RATES vary it). Measurements: they report, never fail
# on a figure.
bench-catalog:
	PHIGUARD_MEASURE_CATALOG=1 $(GO) test -count=1 -timeout 30m -v -run 'TestCatalogNamesMeasure$$' ./integration
	PHIGUARD_RT34_LOAD=1 $(GO) test -count=1 -timeout 30m -v -run 'TestRedTeam34EpochLoad$$' ./integration

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzStartup$$' -fuzztime $(FUZZTIME) ./proxy
	$(GO) test -run '^$$' -fuzz '^FuzzClientMessages$$' -fuzztime $(FUZZTIME) ./proxy
	$(GO) test -run '^$$' -fuzz '^FuzzBackendMessages$$' -fuzztime $(FUZZTIME) ./proxy
	$(GO) test -run '^$$' -fuzz '^FuzzCellArray$$' -fuzztime $(FUZZTIME) ./guard
	$(GO) test -run '^$$' -fuzz '^FuzzShapeAgreesWithPostgres$$' -fuzztime $(FUZZTIME) ./sqlrewrite
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./policy
	$(GO) test -run '^$$' -fuzz '^FuzzCanonical$$' -fuzztime $(FUZZTIME) ./internal/pgvalue
	$(GO) test -run '^$$' -fuzz '^FuzzDecrypt$$' -fuzztime $(FUZZTIME) ./keys
	$(GO) test -run '^$$' -fuzz '^FuzzTermsCell$$' -fuzztime $(FUZZTIME) ./keys
	$(GO) test -run '^$$' -fuzz '^FuzzOrd$$' -fuzztime $(FUZZTIME) ./keys
	$(GO) test -run '^$$' -fuzz '^FuzzEqToken$$' -fuzztime $(FUZZTIME) ./keys
	$(GO) test -run '^$$' -fuzz '^FuzzSortKeyAgreesWithCompare$$' -fuzztime $(FUZZTIME) ./internal/pgorder
	$(GO) test -run '^$$' -fuzz '^FuzzNumericSortKey$$' -fuzztime $(FUZZTIME) ./internal/pgorder
	$(GO) test -run '^$$' -fuzz '^FuzzIntSortKey$$' -fuzztime $(FUZZTIME) ./internal/pgorder
	$(GO) test -run '^$$' -fuzz '^FuzzSortKey$$' -fuzztime $(FUZZTIME) ./internal/pgcollate
	$(GO) test -run '^$$' -fuzz '^FuzzMatchTokens$$' -fuzztime $(FUZZTIME) ./cellcipher
	$(GO) test -run '^$$' -fuzz '^FuzzOrderInput$$' -fuzztime $(FUZZTIME) ./cellcipher

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./internal/tools/layercheck
	$(GO) run ./internal/tools/sizecheck proxy guard sqlrewrite
