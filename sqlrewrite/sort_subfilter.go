package sqlrewrite

import (
	"errors"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// The subquery half of the WHERE rewrite (planner_subfilter.go): in an
// IN or EXISTS conjunct whose subquery's WHERE holds filters, each of
// those filters is replaced by true inside the subquery, and the hidden
// column is the array of the filtered column's cells over the rows the
// conjunct tests for this row, built from the same text.

// subCut is one such conjunct: the bytes of its subquery (inside the
// parentheses), their text without the filters, and the hidden column.
type subCut struct {
	span   [2]int
	text   string
	hidden string
}

// newSortCut scans a text and locates its top-level SELECT's parts.
func newSortCut(text string) (*sortCut, error) {
	res, err := pg_query.Scan(text)
	if err != nil {
		return nil, err
	}
	c := &sortCut{sql: text, arrive: -1}
	for _, tok := range res.GetTokens() {
		// Comments are not tokens here: a span must end at a real one,
		// or a line comment at its end would swallow what follows.
		if tok.GetToken() != pg_query.Token_SQL_COMMENT && tok.GetToken() != pg_query.Token_C_COMMENT {
			c.toks = append(c.toks, tok)
		}
	}
	return c, c.locate()
}

// locateSubFilters cuts each group's conjunct (segs are the WHERE's).
func (c *sortCut) locateSubFilters(sp *SortPlan, segs [][2]int) error {
	for _, g := range sp.groups {
		if g.conjunct >= len(segs) {
			return errors.New("a subquery the WHERE does not have")
		}
		s, err := c.subFilterCut(segs[g.conjunct], g)
		if err != nil {
			return err
		}
		c.subs = append(c.subs, s)
	}
	return nil
}

// subFilterCut cuts `X IN (SELECT ...)`, `X = ANY (SELECT ...)` or
// `EXISTS (SELECT ...)`, the subquery ending the conjunct.
func (c *sortCut) subFilterCut(seg [2]int, g *subGroup) (subCut, error) {
	a, b := seg[0], seg[1]
	for b-a > 2 && c.tok(a) == pg_query.Token_ASCII_40 && c.closing(a, b) == b-1 {
		a, b = a+1, b-1
	}
	not := false // NOT EXISTS, NOT X IN
	if g.negated && (c.tok(a) == pg_query.Token_NOT || c.tok(a) == pg_query.Token_NOT_LA) {
		not, a = true, a+1
		for b-a > 2 && c.tok(a) == pg_query.Token_ASCII_40 && c.closing(a, b) == b-1 {
			a, b = a+1, b-1 // NOT (X IN (SELECT ...))
		}
	}
	open := b - 1
	for open >= a && !(c.depth[open] == c.depth[a] && c.tok(open) == pg_query.Token_ASCII_40) {
		open--
	}
	if open < a || c.closing(open, b) != b-1 || c.tok(open+1) != pg_query.Token_SELECT {
		return subCut{}, errors.New("the WHERE's subquery is not where the plan has it")
	}
	x := ""
	switch k := open - 1; {
	case g.exists && k == a && c.tok(k) == pg_query.Token_EXISTS && not == g.negated:
	case g.negated && !not && k-1 > a && c.tok(k) == pg_query.Token_IN_P && (c.tok(k-1) == pg_query.Token_NOT || c.tok(k-1) == pg_query.Token_NOT_LA):
		x = c.text([2]int{a, k - 1}) // X NOT IN
	case !g.exists && not == g.negated && k > a && c.tok(k) == pg_query.Token_IN_P:
		x = c.text([2]int{a, k})
	case !g.exists && not == g.negated && k-1 > a && c.tok(k) == pg_query.Token_ANY && c.tok(k-1) == pg_query.Token_ASCII_61:
		x = c.text([2]int{a, k - 1})
	default:
		return subCut{}, errors.New("the WHERE's IN or EXISTS is not where the plan has it")
	}
	from, to := c.start(open+1), c.end(b-2)
	sub, err := newSortCut(c.sql[from:to])
	if err != nil {
		return subCut{}, err
	}
	hidden, err := sub.subArray(g, x)
	if err != nil {
		return subCut{}, err
	}
	if g.negated { // the whole conjunct becomes true
		return subCut{span: [2]int{c.start(seg[0]), c.end(seg[1] - 1)}, text: "true", hidden: hidden}, nil
	}
	return subCut{span: [2]int{from, to}, text: sub.withoutFilters(0, len(sub.sql)), hidden: hidden}, nil
}

// subArray locates a subquery's filters and builds the hidden column:
// ARRAY(SELECT col FROM ... WHERE (inner') [AND (X) = (k)]), for NOT IN
// with ((X) = (k)) IS NOT FALSE.
func (c *sortCut) subArray(g *subGroup, x string) (string, error) {
	if err := c.locateFilters(&SortPlan{Filters: make([]Filter, 1), cands: g.cands, conjuncts: g.conjuncts, probes: g.probes}); err != nil {
		return "", err
	}
	w := c.next(c.selectEnd, pg_query.Token_WHERE)
	if c.tail != len(c.toks) || w >= len(c.toks) || c.tok(c.selectEnd) != pg_query.Token_FROM || len(c.filters) == 0 {
		return "", errors.New("the subquery is not the shape the plan has")
	}
	cells, err := c.subCells(g)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("ARRAY(SELECT " + cells + " ")
	b.WriteString(c.withoutFilters(c.start(c.selectEnd), c.start(w)))
	b.WriteString("WHERE (" + c.withoutFilters(c.end(w), len(c.sql)) + ")")
	if !g.exists {
		if len(c.targets) != 1 || x == "" {
			return "", errors.New("the IN's operands are not where the plan has them")
		}
		eq := "(" + x + ") = (" + c.targetText(0, g.labelled) + ")"
		if g.negated {
			eq = "(" + eq + ") IS NOT FALSE" // true or NULL: either makes NOT IN not true
		}
		b.WriteString(" AND " + eq)
	}
	b.WriteString(")")
	return b.String(), nil
}

// withoutFilters is the text of bytes [from, to) with each filtered
// conjunct replaced by true and each subquery holding filters by its
// text without them.
func (c *sortCut) withoutFilters(from, to int) string {
	type edit struct {
		s, e int
		text string
	}
	var edits []edit
	for k, fc := range c.filters {
		edits = append(edits, edit{c.start(fc.conjunct[0]), c.end(fc.conjunct[1] - 1), c.conjunctText(k)})
	}
	for _, s := range c.subs {
		edits = append(edits, edit{s.span[0], s.span[1], s.text})
	}
	slices.SortFunc(edits, func(x, y edit) int { return x.s - y.s })
	var b strings.Builder
	at := from
	for _, e := range edits {
		if e.s < at || e.e > to {
			continue // verifySort's count of conjuncts fails it
		}
		b.WriteString(c.sql[at:e.s])
		b.WriteString(spacedEdit(c.sql, e.s, e.e, e.text)) // text_edit.go
		at = e.e
	}
	b.WriteString(c.sql[at:to])
	return b.String()
}

// subCells is what the array holds per inner row: the filtered column,
// or with filters on several, ARRAY[...] of their cells as text, in the
// order of the plan's cells (planner_subfilter_cells.go).
func (c *sortCut) subCells(g *subGroup) (string, error) {
	if len(c.filters) != len(g.cands) || len(g.cells) != len(g.cands) {
		return "", errors.New("the subquery's filters are not those of the plan")
	}
	if g.width <= 1 {
		return c.text(c.filters[0].column), nil
	}
	cols := make([]string, g.width)
	for k, cell := range g.cells {
		if cell < len(cols) && cols[cell] == "" {
			cols[cell] = "CAST(" + c.text(c.filters[k].column) + " AS pg_catalog.text)"
		}
	}
	return "ARRAY[" + strings.Join(cols, ", ") + "]", nil
}
