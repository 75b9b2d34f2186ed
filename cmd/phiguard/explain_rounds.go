package main

import (
	"fmt"
	"io"

	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Explain lines of a statement served through an order term in rounds
// (docs/design/search-terms.md §4.6, §7.3; sqlrewrite/sort_rounds.go).

// roundsKeyLine is the line of ORDER BY key i when the statement runs in
// rounds: the order-term key, a plaintext key the database orders by
// before it, or a key phiguard orders within the term's ties; false when
// the statement does not run in rounds.
func roundsKeyLine(w io.Writer, sp *sqlrewrite.SortPlan, i int, name, dir string) bool {
	r := sp.Rounds
	if r == nil || r.Agg {
		return false
	}
	switch {
	case i == r.Key:
		fmt.Fprintf(w, "  %-22s %s: ordered in the database through its order term (index %s), exact order in phiguard after decryption\n",
			"ORDER BY "+name, dir, search.IndexName(r.Column, "o"))
	case i < r.Key:
		fmt.Fprintf(w, "  %-22s ordered in the database as written (and ranked for phiguard's exact order)\n", "ORDER BY "+name)
	case name == "plaintext":
		fmt.Fprintf(w, "  %-22s ranked in the database, ordered by phiguard within ties of %s's order term\n", "ORDER BY "+name, r.Column.Name)
	default:
		fmt.Fprintf(w, "  %-22s %s: in phiguard, after decryption, within ties of %s's order term\n", "ORDER BY "+name, dir, r.Column.Name)
	}
	return true
}

// roundsLimitLine is the LIMIT line of a statement in rounds.
func roundsLimitLine(w io.Writer, sp *sqlrewrite.SortPlan) bool {
	if sp.Rounds == nil || sp.Rounds.Agg {
		return false
	}
	if sp.Rounds.Plain() {
		fmt.Fprintf(w, "  %-22s ordered in the database as written (plaintext keys only); phiguard keeps the database's order\n", "ORDER BY plaintext")
		fmt.Fprintf(w, "  %-22s FETCH FIRST k ROWS ONLY in the database (a row not returned sorts at or after every returned one), k = ceil(1.25*(OFFSET+LIMIT))+16, then x8 while phiguard keeps fewer than OFFSET+LIMIT rows (within limits.proxy_sort_rows, then every candidate); cut by phiguard after its re-check\n",
			"LIMIT/OFFSET")
		return true
	}
	if sp.Rounds.Unordered() {
		fmt.Fprintf(w, "  %-22s FETCH FIRST k ROWS ONLY in the database (no ORDER BY: any OFFSET+LIMIT rows that pass will do), k = ceil(1.25*(OFFSET+LIMIT))+16, then x8 while phiguard keeps fewer than OFFSET+LIMIT rows (within limits.proxy_sort_rows, then every candidate); cut by phiguard after its re-check\n",
			"LIMIT/OFFSET")
		return true
	}
	fmt.Fprintf(w, "  %-22s FETCH FIRST k ROWS WITH TIES in the database, k = ceil(1.25*(OFFSET+LIMIT))+16, then x8 while phiguard keeps fewer than OFFSET+LIMIT rows (within limits.proxy_sort_rows, then every candidate); cut by phiguard after its exact sort\n",
		"LIMIT/OFFSET")
	return true
}

// roundsAggregateLine is the line of min or max served by one ordered
// round.
func roundsAggregateLine(w io.Writer, sp *sqlrewrite.SortPlan, a sqlrewrite.Aggregate) bool {
	if sp.Rounds == nil || !sp.Rounds.Agg {
		return false
	}
	fmt.Fprintf(w, "  %-22s the database orders by its order term (index %s) and returns FETCH FIRST 18 ROWS WITH TIES, then x8 until a row passes phiguard's re-check; phiguard decrypts those and takes the %s\n",
		a.String(), search.IndexName(sp.Rounds.Column, "o"), a.Func)
	return true
}
