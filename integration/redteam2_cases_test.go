package integration

import "testing"

// TestRedTeam2Cases: holes found by the second red team. Each case fails
// on 36a02a6.
func TestRedTeam2Cases(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	runAccessCases(t, p, redTeam2Cases())
}

func redTeam2Cases() []accessCase {
	return []accessCase{
		// 1. A table alias with a column list (FROM t AS a(x, y)) renames
		// the table's columns; the rewriter keys restricted columns by
		// their real names only, so a renamed one is free in any
		// expression, and its value leaves without a RowDescription origin.
		// research sees every patient id in clear (no pseudonym).
		{name: "alias column list unpseudonymizes clinical_notes.patient", user: "researcher",
			steps: []string{`SELECT count(*) FROM clinical_notes AS c(i, p) WHERE p::text ~ '^[0-9a-f-]{36}$'`},
			want:  refused(`clinical_notes\.patient`)},
		{name: "alias column list unpseudonymizes encounters.patient", user: "researcher",
			steps: []string{"SELECT count(DISTINCT p::text) FROM encounters AS e(a, b, c, p)"},
			want:  refused(`encounters\.patient`)},
		{name: "alias column list reads a denied note", user: "biller",
			steps: []string{"SELECT sum(length(n || '')) FROM clinical_notes AS c(i, p, e, a, n)"},
			want:  refused(`clinical_notes\.note`)},
		{name: "alias column list filters on a denied note", user: "biller",
			steps: []string{"SELECT count(*) FROM clinical_notes AS c(i, p, e, a, n) WHERE n LIKE 'Seen%'"},
			want:  refused(`clinical_notes\.note`)},
		{name: "join alias column list unpseudonymizes a patient id", user: "researcher",
			steps: []string{"SELECT count(DISTINCT p::text) FROM (clinical_notes c JOIN encounters e ON c.encounter = e.id) AS j(a, p)"},
			// A join's column order is not modelled: renaming any of its
			// restricted columns is refused, naming the first of them.
			want: refused(`clinical_notes\.(patient|note)|encounters\.patient`)},
		// 2. GROUP BY checks positions and output aliases at the top level
		// only: inside ROLLUP, CUBE or GROUPING SETS they group by the real
		// value of a masked or nulled column (equality and, with sorted
		// grouping, order oracles on the hidden value).
		{name: "group by rollup position groups by the masked zip", user: "biller",
			steps: []string{"SELECT zip, count(*) FROM patients GROUP BY ROLLUP(1)"},
			want:  refused(`patients\.zip`)},
		{name: "group by grouping sets alias groups by the masked zip", user: "biller",
			steps: []string{"SELECT zip AS z, count(*) FROM patients GROUP BY GROUPING SETS ((z))"},
			want:  refused(`patients\.zip`)},
		{name: "group by cube position groups by the nulled lat", user: "researcher",
			steps: []string{"SELECT lat, count(*) FROM patients GROUP BY CUBE(1)"},
			want:  refused(`patients\.lat`)},
	}
}
