package integration

// statsCases are attempts to learn how many rows a table holds (or how big
// it is) from PostgreSQL's statistics rather than by reading the rows: a
// clinician who may see 45 patients must not learn that there are 111.
// Every name is prefixed "stats " so that the group runs alone with
// -run 'TestAccessAdversarial/stats_'. docs/design/access-rewriter.md
// ("Statistics") lists what is refused.
func statsCases(fx *accessEHR) []accessCase {
	one := func(name, user, sql string, want outcome) accessCase {
		return accessCase{name: "stats " + name, user: user, steps: []string{sql}, want: want}
	}
	alice := func(name, sql string, want outcome) accessCase { return one(name, "dr_alice", sql, want) }
	const pc = `pg_class\.(reltuples|relpages|relallvisible)`
	return []accessCase{
		// Statistics functions, under every name and in every place.
		alice("live tuples", `SELECT pg_stat_get_live_tuples('patients'::regclass)`, refused(`pg_stat_get_live_tuples`)),
		alice("tuples inserted", `SELECT pg_stat_get_tuples_inserted('public.patients'::regclass)`, refused(`pg_stat_get_tuples_inserted`)),
		alice("live tuples qualified and quoted", `SELECT "pg_catalog"."pg_stat_get_live_tuples"('patients'::regclass)`, refused(`pg_stat_get_live_tuples`)),
		alice("live tuples upper case", `SELECT PG_CATALOG.PG_STAT_GET_LIVE_TUPLES('patients'::regclass)`, refused(`pg_stat_get_live_tuples`)),
		alice("dead tuples", `SELECT pg_stat_get_dead_tuples('patients'::regclass)`, refused(`pg_stat_get_dead_tuples`)),
		alice("tuples returned", `SELECT pg_stat_get_tuples_returned('care_teams'::regclass)`, refused(`pg_stat_get_tuples_returned`)),
		alice("tuples fetched", `SELECT pg_stat_get_tuples_fetched('patients'::regclass)`, refused(`pg_stat_get_tuples_fetched`)),
		alice("inserts since vacuum", `SELECT pg_stat_get_ins_since_vacuum('patients'::regclass)`, refused(`pg_stat_get_ins_since_vacuum`)),
		alice("changes since analyze", `SELECT pg_stat_get_mod_since_analyze('encounters'::regclass)`, refused(`pg_stat_get_mod_since_analyze`)),
		alice("blocks fetched", `SELECT pg_stat_get_blocks_fetched('patients'::regclass)`, refused(`pg_stat_get_blocks_fetched`)),
		alice("xact tuples inserted", `SELECT pg_stat_get_xact_tuples_inserted('patients'::regclass)`, refused(`pg_stat_get_xact_tuples_inserted`)),
		alice("database tuples inserted", `SELECT pg_stat_get_db_tuples_inserted(oid) FROM pg_database WHERE datname = current_database()`, refused(`pg_stat_get_db_tuples_inserted`)),
		alice("have stats", `SELECT pg_stat_have_stats('relation', 0, 'patients'::regclass::oid)`, refused(`pg_stat_have_stats`)),
		alice("live tuples in from", `SELECT n FROM pg_stat_get_live_tuples('patients'::regclass) AS n`, refused(`pg_stat_get_live_tuples`)),
		alice("live tuples in where", `SELECT 1 WHERE pg_stat_get_live_tuples('patients'::regclass) > 100`, refused(`pg_stat_get_live_tuples`)),
		alice("live tuples in a subquery", `SELECT count(*) FROM patients WHERE (SELECT pg_stat_get_live_tuples('patients'::regclass)) > 0`, refused(`pg_stat_get_live_tuples`)),
		one("research live tuples", "researcher", `SELECT pg_stat_get_live_tuples('encounters'::regclass)`, refused(`pg_stat_get_live_tuples`)),
		one("default tuples inserted", "walkin", `SELECT pg_stat_get_tuples_inserted('clinical_notes'::regclass)`, refused(`pg_stat_get_tuples_inserted`)),
		alice("relation size", `SELECT pg_relation_size('patients')`, refused(`pg_relation_size`)),
		alice("table size", `SELECT pg_table_size('patients')`, refused(`pg_table_size`)),
		alice("total relation size", `SELECT pg_total_relation_size('clinical_notes')`, refused(`pg_total_relation_size`)),
		alice("indexes size", `SELECT pg_indexes_size('care_teams')`, refused(`pg_indexes_size`)),
		alice("database size", `SELECT pg_database_size(current_database())`, refused(`pg_database_size`)),
		alice("extended statistics values", `SELECT * FROM pg_mcv_list_items(NULL::pg_mcv_list)`, refused(`pg_mcv_list_items`)),

		// pg_class's estimates, however they are reached.
		alice("reltuples", `SELECT reltuples FROM pg_class WHERE relname = 'patients'`, refused(`pg_class\.reltuples`)),
		alice("relpages qualified", `SELECT relpages FROM pg_catalog.pg_class WHERE relname = 'patients'`, refused(`pg_class\.relpages`)),
		alice("relallvisible quoted", `SELECT "relallvisible" FROM "pg_catalog"."pg_class" WHERE relname = 'patients'`, refused(`pg_class\.relallvisible`)),
		alice("reltuples aliased", `SELECT c.reltuples::int FROM pg_class AS c WHERE c.relname = 'patients'`, refused(`pg_class\.reltuples`)),
		alice("reltuples fully qualified", `SELECT pg_catalog.pg_class.reltuples FROM pg_catalog.pg_class WHERE relname = 'patients'`, refused(`pg_class\.reltuples`)),
		alice("reltuples field of the row", `SELECT (c).reltuples FROM pg_class c WHERE c.relname = 'patients'`, refused(pc)),
		alice("pg_class star", `SELECT * FROM pg_class WHERE relname = 'patients'`, refused(pc)),
		alice("pg_class qualified star", `SELECT c.* FROM pg_class c WHERE relname = 'patients'`, refused(pc)),
		alice("pg_class whole row", `SELECT c FROM pg_class c WHERE relname = 'patients'`, refused(pc)),
		alice("pg_class row_to_json", `SELECT row_to_json(c) FROM pg_class c WHERE relname = 'patients'`, refused(pc)),
		alice("pg_class in column notation", `SELECT c.row_to_json FROM pg_class c WHERE relname = 'patients'`, refused(pc)),
		alice("pg_class through a join alias in column notation", `SELECT j.row_to_json FROM (pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace) AS j WHERE j.relname = 'patients'`, refused(pc)),
		alice("reltuples in where", `SELECT relname FROM pg_class WHERE relname = 'patients' AND reltuples > 100`, refused(`pg_class\.reltuples`)),
		alice("relpages in order by", `SELECT relname FROM pg_class ORDER BY relpages DESC LIMIT 1`, refused(`pg_class\.relpages`)),
		alice("reltuples through a subquery", `SELECT x FROM (SELECT reltuples AS x FROM pg_class WHERE relname = 'patients') s`, refused(`pg_class\.reltuples`)),
		alice("pg_class star through a cte", `WITH s AS (SELECT * FROM pg_class) SELECT relname FROM s WHERE relname = 'patients'`, refused(pc)),
		alice("reltuples in a join", `SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid AND c.reltuples > 0`, refused(`pg_class\.reltuples`)),

		// Statistics relations, tables and views alike.
		alice("pg_statistic", `SELECT stanullfrac FROM pg_statistic`, refused(`pg_statistic`)),
		alice("pg_statistic_ext_data", `SELECT count(*) FROM pg_catalog.pg_statistic_ext_data`, refused(`pg_statistic_ext_data`)),
		alice("pg_stats_ext", `SELECT * FROM pg_stats_ext`, refused(`pg_stats_ext`)),
		alice("pg_stat_user_tables", `SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'patients'`, refused(`pg_stat_user_tables`)),
		alice("pg_stat_all_tables", `SELECT n_tup_ins FROM pg_catalog.pg_stat_all_tables WHERE relname = 'patients'`, refused(`pg_stat_all_tables`)),
		alice("pg_stat_xact_user_tables", `SELECT n_tup_ins FROM pg_stat_xact_user_tables`, refused(`pg_stat_xact_user_tables`)),
		alice("pg_stat_user_indexes", `SELECT idx_tup_read FROM pg_stat_user_indexes`, refused(`pg_stat_user_indexes`)),
		alice("pg_statio_user_tables", `SELECT heap_blks_read FROM pg_statio_user_tables`, refused(`pg_statio_user_tables`)),
		alice("pg_stat_database", `SELECT tup_inserted FROM pg_stat_database WHERE datname = current_database()`, refused(`pg_stat_database`)),
		alice("pg_stat_statements", `SELECT rows FROM pg_stat_statements`, refused(`pg_stat_statements`)),

		// System columns place a visible row among the hidden ones.
		alice("ctid of a ruled table", `SELECT ctid FROM patients`, refused(`ctid`)),
		alice("ctid through update returning", `UPDATE patients SET city = city RETURNING ctid`, refused(`ctid`)),
		alice("ctid through delete returning", `DELETE FROM clinical_notes RETURNING clinical_notes.ctid`, refused(`ctid`)),
		alice("ctid in an update's where", `UPDATE encounters SET description = description WHERE ctid > '(0,0)' RETURNING id`, refused(`ctid`)),
		alice("xmin of a ruled table", `SELECT p.xmin FROM patients p`, refused(`xmin`)),

		// Column notation (t.f is f(t)) is a whole-row value.
		one("billing note in column notation", "biller", `SELECT n.row_to_json FROM clinical_notes n`, refused(`note`)),
		one("billing note through a join alias in column notation", "biller", `SELECT j.to_json FROM (clinical_notes n JOIN encounters e ON e.id = n.encounter) j`, refused(`permission denied for column`)),
		one("billing zip through a subquery in column notation", "biller", `SELECT s.row_to_json FROM (SELECT zip FROM patients) s`, refused(`zip`)),
		one("billing zip through a cte in column notation", "biller", `WITH s AS (SELECT zip, city FROM patients) SELECT s.to_jsonb FROM s`, refused(`zip`)),
		one("research id through a subquery in column notation", "researcher", `SELECT s.to_json FROM (SELECT id, city FROM patients) s`, refused(`\bid\b`)),
		one("research patient in column notation", "researcher", `SELECT p.to_jsonb FROM patients p`, encRefused(researchPatientsDenied)),

		// What tools ask of the catalog still works, and counts are of the
		// visible rows.
		alice("relname still readable", `SELECT relname FROM pg_class WHERE relname = 'patients'`, rowsOf(`SELECT relname FROM pg_class WHERE relname = 'patients'`)),
		alice("catalog join still readable",
			`SELECT c.relname, c.relkind, c.relnatts FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`,
			rowsOf(`SELECT c.relname, c.relkind, c.relnatts FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`)),
		alice("columns still readable", `SELECT attname FROM pg_attribute WHERE attrelid = 'patients'::regclass AND attnum > 0`,
			rowsOf(`SELECT attname FROM pg_attribute WHERE attrelid = 'patients'::regclass AND attnum > 0`)),
		alice("oid in column notation still readable", `SELECT c.oid = 'patients'::regclass FROM pg_class c WHERE c.relname = 'patients'`, rowsOf(`SELECT true`)),
		alice("count is of the visible rows", `SELECT count(*) FROM patients`, rowsOf(`SELECT count(*) FROM `+aliceSees+` a`)),
		alice("ctid of a table without a row rule", `SELECT count(ctid) FROM payers`, rowsOf(`SELECT count(ctid) FROM payers`)),
		one("billing relname", "biller", `SELECT relname FROM pg_class WHERE relname = 'payers'`, rowsOf(`SELECT 'payers'::name`)),
	}
}
