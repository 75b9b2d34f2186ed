.PHONY: bench

# bench compares PostgreSQL direct, PgBouncer and phiguard with pgbench (needs root).
bench:
	bash bench/pgbench.sh
