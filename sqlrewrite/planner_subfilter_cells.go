package sqlrewrite

// Several encrypted columns in one IN or EXISTS subquery (issue 13,
// docs/search.md). PostgreSQL keeps an outer row when one inner row
// passes every conjunct of the subquery's WHERE: the filters on two
// columns must hold on the same inner row. So the hidden array holds,
// per inner row, one cell of each column the filters compare, as a row
// of a two-dimensional array of text:
//
//	ARRAY(SELECT ARRAY[CAST(b.code AS pg_catalog.text), CAST(b.kind AS pg_catalog.text)] FROM ... WHERE ...)
//
// (an inner row's cells stay together, whatever order the database
// reads the rows in), and the proxy keeps the row when one row of
// cells passes every filter, each on its cell (guard/protect_subfilter.go).
// One column keeps the one-dimensional array of its cells. A column
// named two ways (b.code and code) is two cells of the same column:
// each filter reads the one it names, the same value.

// layCells gives each of the group's filters its cell, by the encrypted
// column it names as written, in the order the columns first appear.
// There are no more cells than filters, each a conjunct the client wrote.
func (g *subGroup) layCells(sc *scope) {
	at := map[string]int{}
	g.cells = g.cells[:0]
	for _, f := range g.cands {
		name := ""
		for n := range columnRefNames(f.node, sc, nil) {
			name = n // a filter names one encrypted column
		}
		i, ok := at[name]
		if !ok {
			i = len(at)
			at[name] = i
		}
		g.cells = append(g.cells, i)
	}
	g.width = len(at)
}
