package guard

import "testing"

// TestObjectsStatisticsFunctionsUnsafe: the statistics functions are not
// safe built-ins in the catalog the proxy reads, although PostgreSQL marks
// them stable, so a check by name alone refuses them as the rewriter does.
func TestObjectsStatisticsFunctionsUnsafe(t *testing.T) {
	b := NewObjectsBuilder()
	for _, f := range []string{"lower", "pg_stat_get_live_tuples", "pg_stat_get_tuples_inserted", "pg_mcv_list_items", "query_to_xml"} {
		if err := b.AddRow([][]byte{[]byte("f"), []byte(f), []byte("true"), nil, nil}); err != nil {
			t.Fatal(err)
		}
	}
	o := b.Objects()
	want := map[string]bool{"lower": true, "pg_stat_get_live_tuples": false, "pg_stat_get_tuples_inserted": false,
		"pg_mcv_list_items": false, "query_to_xml": false}
	for f, safe := range want {
		if got := o.FunctionSafe("pg_catalog", f); got != safe {
			t.Errorf("FunctionSafe(pg_catalog, %s) = %v, want %v", f, got, safe)
		}
	}
}
