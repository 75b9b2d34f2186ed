package main

import (
	"fmt"
	"io"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// explainMatch says how a LIKE or ILIKE with a match term runs
// (docs/design/search-terms.md §4.5, §4.6, §7.3): a pattern sends the
// prefix key or match tokens of its literal runs, which narrow the rows
// in the database through the named index; a literal's are in the text,
// a parameter's chosen at each Bind (a variant of the statement, for the
// first two such conjuncts; later ones send none). Either way phiguard
// evaluates the pattern on each row's decrypted value. params is how many
// LIKE conjuncts with a parameter pattern come before f.
func explainMatch(w io.Writer, f sqlrewrite.Filter, params int) {
	col := f.Column
	what := "WHERE " + col.Name + " " + f.Op.String()
	param := f.Args[0].Param > 0 || f.HasEscape && f.Escape.Param > 0
	if param && params >= 2 {
		fmt.Fprintf(w, "  %-22s in phiguard, after decryption, on the rows the rest of the statement selects (a third LIKE with a parameter pattern sends no match term; the pattern never reaches the database)\n", what)
		return
	}
	when, pattern := "", "the pattern"
	if param {
		when, pattern = " chosen at each Bind (a variant of the statement phiguard prepares)", "the bound pattern"
	}
	how := ""
	if col.Search.Has(policy.SearchOrder) {
		how = fmt.Sprintf("the prefix key (%s) if %s starts with 3 literal characters, else ", search.IndexName(col, "p"), pattern)
	}
	fmt.Fprintf(w, "  %-22s term%s: %smatch tokens (%s) of its literal runs, else (no anchored start, no 3 consecutive literal characters) in phiguard only; the pattern never reaches the database, and phiguard re-checks it on every candidate after decryption\n",
		what, when, how, search.IndexName(col, "m"))
}

// likeParams counts the filters before index i that are LIKE conjuncts
// with a match term and a parameter pattern.
func likeParams(fs []sqlrewrite.Filter, i int) int {
	n := 0
	for _, f := range fs[:i] {
		if f.Term == sqlrewrite.TermMatch && (f.Args[0].Param > 0 || f.HasEscape && f.Escape.Param > 0) {
			n++
		}
	}
	return n
}
