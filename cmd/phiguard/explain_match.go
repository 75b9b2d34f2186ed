package main

import (
	"fmt"
	"io"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// explainMatch says how a LIKE or ILIKE with a match term runs
// (docs/design/search-terms.md §4.5, §7.3): a literal pattern sends the
// prefix key or match tokens of its literal runs, which narrow the rows
// in the database through the named index; a pattern given as a
// parameter sends none in this version. Either way phiguard evaluates the
// pattern on each row's decrypted value.
func explainMatch(w io.Writer, f sqlrewrite.Filter) {
	col := f.Column
	what := "WHERE " + col.Name + " " + f.Op.String()
	if f.Args[0].Param > 0 || f.HasEscape && f.Escape.Param > 0 {
		fmt.Fprintf(w, "  %-22s in phiguard, after decryption, on the rows the rest of the statement selects (a pattern given as a parameter sends no match term yet; the pattern never reaches the database)\n", what)
		return
	}
	how := ""
	if col.Search.Has(policy.SearchOrder) {
		how = fmt.Sprintf("the prefix key (%s) if the pattern starts with 3 literal characters, else ", search.IndexName(col, "p"))
	}
	fmt.Fprintf(w, "  %-22s term: %smatch tokens (%s) of its literal runs, else (no anchored start, no 3 consecutive literal characters) in phiguard only; the pattern never reaches the database, and phiguard re-checks it on every candidate after decryption\n",
		what, how, search.IndexName(col, "m"))
}
