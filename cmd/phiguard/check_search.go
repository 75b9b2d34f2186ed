package main

import (
	"fmt"
	"strings"

	"github.com/phiguard/phiguard/policy"
)

// searchLines are check's lines for the columns with `search`
// (docs/design/search-terms.md §7.2): each column's terms, key version and
// state, what the terms would reveal, and what this phiguard does with
// them in that state. warnings: an order term on a column sealed per subject,
// whose position in the column's order outlives a shred in backups.
func searchLines(pol *policy.Policy) (lines, warnings []string) {
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			if c.Search == 0 {
				continue
			}
			lines = append(lines,
				fmt.Sprintf("%s  search: %s  key %s v%d  state %s (accepted; %s)",
					c.QualifiedName(), c.Search, c.Key, c.SearchKeyVersion, c.SearchState, stateUse(c)),
				"  reveals: "+reveals(c)+"; docs/design/search-terms.md §6")
			if c.Search.Has(policy.SearchOrder) && c.PerSubject() {
				warnings = append(warnings, fmt.Sprintf("order term on per-subject column %s: once terms are written, a shredded patient's position in this column's order stays in backups taken before the shred", c.QualifiedName()))
			}
		}
	}
	return lines, warnings
}

// stateUse is what this phiguard does with a column's terms in its state.
func stateUse(c *policy.ProtectedColumn) string {
	switch c.SearchState {
	case policy.SearchReady:
		return "writes the terms; =, ranges and BETWEEN search through them"
	case policy.SearchRekeying:
		// design §5.3: cells carry terms of one loaded version or another
		// until phiguard encrypt has rewritten them all.
		what := "= and IN search through the equality terms of every loaded version of key " + c.Key
		if !c.Search.Has(policy.SearchEquality) || c.Mode != policy.ModeRandomized {
			what = "no search goes through the terms"
		}
		return fmt.Sprintf("writes terms of v%d; %s; ranges, BETWEEN and ORDER BY run in phiguard (order terms of two versions do not compare) until every cell has terms of v%d (phiguard encrypt, then search_state: ready)",
			c.SearchKeyVersion, what, c.SearchKeyVersion)
	}
	return "writes the terms and searches through none until search_state: ready"
}

// reveals is what the column's terms would reveal to anyone holding the
// database, in the design's §6 words, shortened.
func reveals(c *policy.ProtectedColumn) string {
	var out []string
	if c.Search.Has(policy.SearchEquality) {
		out = append(out, "which rows share a value (equality)")
	}
	if c.Search.Has(policy.SearchOrder) {
		if c.Type.OID == policy.OIDText || c.Type.OID == policy.OIDVarchar || c.Type.OID == policy.OIDBpchar {
			out = append(out, "total order and shared leading letters (order)")
		} else {
			out = append(out, "total order and approximate distances (order)")
		}
	}
	if c.Search.Has(policy.SearchMatch) {
		out = append(out, "trigram sets, first letters (match)")
	}
	return strings.Join(out, "; ")
}
