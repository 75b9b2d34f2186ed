package integration

// oracleCases are statements the RLS oracle (rls_oracle_*) flagged, kept as
// fixed regression cases with their sqlsmith seed.
func oracleCases() []accessCase {
	return []accessCase{
		// sqlsmith --seed=93 statement #462: the default role may read no
		// column of export_ids (its one column is restricted), so, as with
		// PostgreSQL's column privileges, it may not learn its rows either.
		{name: "oracle seed 93 #462 count of a table with no readable column", user: "walkin",
			steps: []string{"SELECT count(*) FROM export_ids"}, want: refused(`export_ids`)},
		{name: "oracle seed 93 #462 exists over a table with no readable column", user: "walkin",
			steps: []string{"SELECT phone FROM payers WHERE EXISTS (SELECT 1 FROM public.export_ids AS ref_0 LEFT JOIN public.payers AS ref_1 ON true)"},
			want:  refused(`export_ids`)},
	}
}
