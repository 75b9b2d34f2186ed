package main

import (
	"fmt"
	"io"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// explainEncryption prints where each part of a statement (a, its
// analysis) that touches an
// encrypted column runs: each value phiguard seals (written, or compared
// in the database on deterministic cells), each WHERE conjunct phiguard
// evaluates, each ORDER BY key (in the database, or in phiguard after
// decryption, with LIMIT and OFFSET), or
// the refusal (0A000) naming the column and construct. a is of the text
// after the role's access rewrite, as the proxy plans it.
func explainEncryption(w io.Writer, pol *policy.Policy, a *sqlrewrite.Analysis) {
	if a == nil {
		fmt.Fprintln(w, "encryption: not planned (the text does not parse)")
		return
	}
	plan := a.PlanUnder(pol)
	switch {
	case !plan.Protected:
		fmt.Fprintln(w, "encryption: no encrypted table; the text passes as it is")
		return
	case plan.Refusal != nil:
		fmt.Fprintf(w, "encryption: refused, SQLSTATE %s: %s\n", plan.Refusal.Code, plan.Refusal.Error())
		return
	}
	fmt.Fprintln(w, "encryption:")
	for _, v := range plan.Values {
		fmt.Fprintf(w, "  %-22s %s\n", valueName(v), valueWhere(v))
	}
	for _, c := range plan.Defaults {
		fmt.Fprintf(w, "  %-22s left to its default: NULL, checked as the statement runs (refused if the column has a default)\n", c.QualifiedName())
	}
	if plan.Copy != nil {
		fmt.Fprintf(w, "  %-22s each row's encrypted fields sealed or opened by phiguard in the COPY stream\n", "COPY "+plan.Copy.Table.Name.String())
	}
	explainSort(w, plan.Sort)
	fmt.Fprintln(w, "  results                encrypted cells opened by phiguard as the rows pass")
}

func valueName(v sqlrewrite.ValueSlot) string {
	if v.Param > 0 {
		return fmt.Sprintf("$%d", v.Param)
	}
	return fmt.Sprintf("literal #%d", v.Literal+1)
}

func valueWhere(v sqlrewrite.ValueSlot) string {
	col := fmt.Sprintf("%s (%s)", v.Column.QualifiedName(), v.Column.Mode)
	if v.Use == sqlrewrite.UseCompare {
		return "compared with " + col + ": sealed by phiguard, compared in the database on the deterministic cells"
	}
	return "written into " + col + ": sealed by phiguard"
}

// explainSort says where each WHERE conjunct and ORDER BY key of a
// statement whose rows phiguard holds is evaluated.
func explainSort(w io.Writer, sp *sqlrewrite.SortPlan) {
	if sp == nil {
		return
	}
	for i, f := range sp.Filters {
		if f.Term == sqlrewrite.TermMatch {
			explainMatch(w, f, likeParams(sp.Filters, i)) // explain_match.go
			continue
		}
		if f.Term != sqlrewrite.TermNone {
			fmt.Fprintf(w, "  %-22s narrowed in the database through its %s index (phiguard sends the term of the constant, never the constant), then in phiguard, after decryption, on the candidates\n",
				"WHERE "+f.Column.Name+" "+f.Op.String(), f.Term)
			continue
		}
		fmt.Fprintf(w, "  %-22s in phiguard, after decryption, on the rows the database returns (the constant never reaches the database)\n",
			"WHERE "+f.ColumnFold.Wrap(f.Column.Name)+" "+f.Op.String())
	}
	explainDistinct(w, sp)
	explainAggregates(w, sp)
	for i, k := range sp.Keys {
		dir := "ASC"
		if k.Desc {
			dir = "DESC"
		}
		if k.NullsFirst {
			dir += " NULLS FIRST"
		} else {
			dir += " NULLS LAST"
		}
		name := "plaintext"
		if k.Column != nil {
			name = k.Column.Name
		}
		if roundsKeyLine(w, sp, i, name, dir) { // explain_rounds.go
			continue
		}
		if k.Column == nil {
			fmt.Fprintf(w, "  %-22s ranked in the database (dense_rank over the plaintext keys, as written), or compared by phiguard when it is one integer or uuid column (docs/search.md, Native keys)\n", "ORDER BY plaintext")
			continue
		}
		fmt.Fprintf(w, "  %-22s in phiguard, after decryption, %s, PostgreSQL's order for %s (the database returns every row the other clauses select; past limits.proxy_sort_rows the statement is refused, 54000)\n",
			"ORDER BY "+k.Column.Name, dir, k.Column.Type.Name)
	}
	if roundsLimitLine(w, sp) { // explain_rounds.go
		return
	}
	if sp.Limit >= 0 || sp.Offset >= 0 {
		fmt.Fprintf(w, "  %-22s applied by phiguard after its sort (their values computed by the database)\n", "LIMIT/OFFSET")
	}
}

// explainDistinct says how phiguard removes a DISTINCT's duplicates.
func explainDistinct(w io.Writer, sp *sqlrewrite.SortPlan) {
	what := "DISTINCT"
	if sp.Grouped {
		what = "GROUP BY"
	}
	for _, k := range sp.Distinct {
		if k.Column == nil {
			fmt.Fprintf(w, "  %-22s compared by their rank in the database (dense_rank over them, as written)\n", what+" plaintext")
			continue
		}
		fmt.Fprintf(w, "  %-22s in phiguard, after decryption, PostgreSQL's equality for %s, before the sort and LIMIT/OFFSET (the database returns every row; two equal values printed differently refuse the statement, 0A000)\n",
			what+" "+k.Column.Name, k.Column.Type.Name)
	}
}

// explainAggregates says which aggregates phiguard computes.
func explainAggregates(w io.Writer, sp *sqlrewrite.SortPlan) {
	for _, a := range sp.Aggregates {
		if roundsAggregateLine(w, sp, a) { // explain_rounds.go
			continue
		}
		how := "in phiguard, from the rows the database returns (each aggregate sent as its argument)"
		if a.Column != nil && (a.Func != "count" || a.Distinct) {
			how += ", after decryption, PostgreSQL's order and equality for " + a.Column.Type.Name
		}
		fmt.Fprintf(w, "  %-22s %s\n", a.String(), how)
	}
}
