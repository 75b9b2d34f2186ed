package sqlrewrite

import (
	"bytes"
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// RewriteSort returns the text to send for a statement whose ORDER BY the
// proxy evaluates (planner_sort.go): the text as the client wrote it (its
// literals already encrypted), with the hidden columns appended to its
// select list and its ORDER BY, LIMIT, OFFSET and FETCH removed. It works
// on the text's tokens, at parenthesis depth 0 of the top-level SELECT,
// and checks its result by parsing it again: an error means the text is
// not the shape the plan was made for, and the statement must be refused.
func RewriteSort(sql []byte, sp *SortPlan) ([]byte, error) {
	return rewriteSortWith(sql, sp, nil)
}

// rewriteSortWith is RewriteSort with the session's native columns
// (sort_native.go), which decide the text too.
func rewriteSortWith(sql []byte, sp *SortPlan, natives NativeColumn) ([]byte, error) {
	mask := sp.nativeMask(natives)
	if m := sp.lastRewrite.Load(); m != nil && m.in == string(sql) && m.natives == mask {
		return bytes.Clone(m.out), nil
	}
	out, err := rewriteSortCut(sql, sp, func(c *sortCut) error { c.natives = natives; return nil })
	if err == nil {
		sp.lastRewrite.Store(&sortRewriteMemo{in: string(sql), natives: mask, out: bytes.Clone(out)})
	}
	return out, err
}

// sortRewriteMemo is the last text a SortPlan rewrote, and the rewrite:
// a statement run again with parameters (a driver's prepared statement,
// an ORM's query) has the same text every time, and the rewrite (a scan
// and a parse of the result, about 200 µs for the address read's shape)
// was most of what a small sorted result cost phiguard.
type sortRewriteMemo struct {
	in      string
	natives uint64 // the keys sent as their values (nativeMask)
	out     []byte
}

// rewriteSort is RewriteSort without its memo.
func rewriteSort(sql []byte, sp *SortPlan) ([]byte, error) {
	return rewriteSortCut(sql, sp, nil)
}

// rewriteSortCut is rewriteSort with place run on the located text before
// it is written (sort_terms.go's term conjuncts).
func rewriteSortCut(sql []byte, sp *SortPlan, place func(*sortCut) error) ([]byte, error) {
	text := string(sql)
	c, err := newSortCut(text) // sort_subfilter.go
	if err != nil {
		return nil, err
	}
	if err := c.locateFilters(sp); err != nil { // sort_filter.go
		return nil, err
	}
	if place != nil {
		if err := place(c); err != nil {
			return nil, err
		}
	}
	c.arrive = sp.arrivalRank(c.natives) // sort_arrival.go
	if len(c.targets) != len(sp.labelled) || len(c.items) != len(sp.items) {
		return nil, errors.New("the select list or ORDER BY does not match the statement's plan")
	}
	hidden, err := c.hiddenText(sp)
	if err != nil {
		return nil, err
	}
	last := c.targets[len(c.targets)-1]
	end := c.end(last[1] - 1)
	var b strings.Builder
	switch {
	case len(sp.Aggregates) > 0 || sp.Grouped:
		// phiguard computes them from their arguments (planner_aggregate.go).
		args, err := c.aggregateArgs(sp)
		if err != nil {
			return nil, err
		}
		b.WriteString(text[:c.start(c.targets[0][0])])
		b.WriteString(strings.Join(args, ", "))
	case len(sp.Distinct) > 0 && c.distinct >= 0:
		// phiguard removes the duplicates (planner_distinct.go).
		b.WriteString(text[:c.start(c.distinct)])
		b.WriteString(text[c.end(c.distinct):end])
	default:
		b.WriteString(text[:end])
	}
	b.WriteString(hidden)
	tail := len(text)
	if c.tail < len(c.toks) {
		tail = c.start(c.tail)
	}
	if sp.Grouped && c.group[1] > c.group[0] {
		// phiguard groups the rows (planner_group.go).
		b.WriteString(c.withoutFilters(end, c.start(c.group[0])))
		last := c.group[1]
		if sp.Having != nil { // phiguard evaluates it (sort_having.go)
			cl, err := c.havingClause()
			if err != nil {
				return nil, err
			}
			last = cl[1]
		}
		end = len(text)
		if last < len(c.toks) {
			end = c.start(last)
		}
	}
	b.WriteString(c.withoutFilters(end, tail))
	bounds, err := c.limitText(sp) // sort_rounds.go
	if err != nil {
		return nil, err
	}
	b.WriteString(bounds)
	if c.tailEnd < len(c.toks) {
		b.WriteString(" ")
		b.WriteString(text[c.start(c.tailEnd):])
	}
	out := b.String()
	if err := verifySort(out, len(sp.labelled)+sp.Hidden, sp, c); err != nil {
		return nil, err
	}
	return sp.gated([]byte(out)) // planner_shadow.go
}

// sortCut is the located parts of a text: token ranges [from, to).
type sortCut struct {
	sql     string
	toks    []*pg_query.ScanToken
	depth   []int
	targets [][2]int // select-list entries
	// selectEnd is the token after the select list; filters the parts
	// of the WHERE conjuncts the proxy evaluates (sort_filter.go).
	selectEnd int
	filters   []filterCut
	terms     []string     // per filter, its term conjunct or "" (sort_terms.go)
	flattened int          // conjuncts a term conjunct added to the WHERE's count (sort_terms.go)
	mult      string       // the round multiplier's text (sort_rounds.go)
	natives   NativeColumn // what the plaintext keys' columns are (sort_native.go)
	arrive    int          // the hidden rank sent as a constant, its run as the ORDER BY, or -1 (sort_arrival.go)
	subs      []subCut     // the IN and EXISTS subqueries holding filters (sort_subfilter.go)
	plain     [][2]int     // the plaintext leaves of WHERE trees (sort_filter_tree.go)
	items     [][2]int     // ORDER BY items
	limit     [2]int       // LIMIT expression, FETCH count; to == from: none written
	offset    [2]int
	fetch     bool   // FETCH FIRST without a count means 1
	distinct  int    // the DISTINCT token after SELECT, or -1
	group     [2]int // GROUP BY and its items
	// tail is the first token of ORDER BY / LIMIT / OFFSET / FETCH, and
	// tailEnd the token after the last of them.
	tail, tailEnd int
}

func (c *sortCut) start(i int) int { return int(c.toks[i].GetStart()) }
func (c *sortCut) end(i int) int   { return int(c.toks[i].GetEnd()) }
func (c *sortCut) tok(i int) pg_query.Token {
	if i < 0 || i >= len(c.toks) {
		return pg_query.Token_NUL
	}
	return c.toks[i].GetToken()
}

// text is the source of tokens [from, to).
func (c *sortCut) text(r [2]int) string {
	if r[1] <= r[0] {
		return ""
	}
	return c.sql[c.start(r[0]):c.end(r[1]-1)]
}

// clause reports whether token i, at depth 0, is a keyword (not a label
// after AS or a field name after a dot).
func (c *sortCut) clause(i int, kw pg_query.Token) bool {
	if c.depth[i] != 0 || c.tok(i) != kw {
		return false
	}
	prev := c.tok(i - 1)
	return prev != pg_query.Token_AS && prev != pg_query.Token_ASCII_46
}

func (c *sortCut) locate() error {
	c.depth = make([]int, len(c.toks))
	d := 0
	for i, t := range c.toks {
		switch t.GetToken() {
		case pg_query.Token_ASCII_40, pg_query.Token_ASCII_91:
			c.depth[i] = d
			d++
			continue
		case pg_query.Token_ASCII_41, pg_query.Token_ASCII_93:
			d--
		}
		c.depth[i] = d
	}
	sel := -1
	for i := range c.toks {
		if c.clause(i, pg_query.Token_SELECT) {
			sel = i
			break
		}
	}
	if sel < 0 {
		return errors.New("no SELECT keyword outside parentheses, as in a parenthesized SELECT with its own ORDER BY or LIMIT")
	}
	from := sel + 1
	c.distinct = -1
	switch c.tok(from) {
	case pg_query.Token_ALL:
		from++
	case pg_query.Token_DISTINCT:
		c.distinct = from
		from++
	}
	to := c.next(from, pg_query.Token_FROM, pg_query.Token_INTO, pg_query.Token_WHERE, pg_query.Token_GROUP_P,
		pg_query.Token_HAVING, pg_query.Token_WINDOW, pg_query.Token_ORDER, pg_query.Token_LIMIT,
		pg_query.Token_OFFSET, pg_query.Token_FETCH, pg_query.Token_FOR, pg_query.Token_ASCII_59)
	c.targets = c.split(from, to)
	c.selectEnd = to
	c.tail = c.next(to, pg_query.Token_ORDER, pg_query.Token_LIMIT, pg_query.Token_OFFSET, pg_query.Token_FETCH)
	if g := c.next(to, pg_query.Token_GROUP_P); g < c.tail {
		c.group = [2]int{g, c.next(g, pg_query.Token_HAVING, pg_query.Token_WINDOW, pg_query.Token_ORDER, pg_query.Token_LIMIT,
			pg_query.Token_OFFSET, pg_query.Token_FETCH, pg_query.Token_FOR, pg_query.Token_ASCII_59)}
	}
	c.tailEnd = c.next(c.tail, pg_query.Token_FOR, pg_query.Token_ASCII_59)
	return c.clauses()
}

// next is the first token at or after i that is one of kws as a clause
// keyword, or len(toks).
func (c *sortCut) next(i int, kws ...pg_query.Token) int {
	for ; i < len(c.toks); i++ {
		for _, kw := range kws {
			if c.clause(i, kw) {
				return i
			}
		}
	}
	return len(c.toks)
}

// split cuts tokens [from, to) at commas of depth 0.
func (c *sortCut) split(from, to int) [][2]int {
	var out [][2]int
	s := from
	for i := from; i < to; i++ {
		if c.depth[i] == 0 && c.tok(i) == pg_query.Token_ASCII_44 {
			out = append(out, [2]int{s, i})
			s = i + 1
		}
	}
	if to > s {
		out = append(out, [2]int{s, to})
	}
	return out
}

// clauses finds the ORDER BY items and the LIMIT and OFFSET expressions
// in the tail.
func (c *sortCut) clauses() error {
	stops := []pg_query.Token{pg_query.Token_LIMIT, pg_query.Token_OFFSET, pg_query.Token_FETCH}
	for i := c.tail; i < c.tailEnd; {
		switch {
		case c.clause(i, pg_query.Token_ORDER) && c.tok(i+1) == pg_query.Token_BY:
			to := min(c.next(i+2, stops...), c.tailEnd)
			c.items = c.split(i+2, to)
			i = to
		case c.clause(i, pg_query.Token_LIMIT):
			to := min(c.next(i+1, pg_query.Token_OFFSET, pg_query.Token_FETCH), c.tailEnd)
			c.limit = [2]int{i + 1, to}
			i = to
		case c.clause(i, pg_query.Token_OFFSET):
			to := min(c.next(i+1, pg_query.Token_LIMIT, pg_query.Token_FETCH), c.tailEnd)
			if t := c.tok(to - 1); t == pg_query.Token_ROW || t == pg_query.Token_ROWS {
				to--
			}
			c.offset = [2]int{i + 1, to}
			i = to
		case c.clause(i, pg_query.Token_FETCH):
			to := min(c.next(i+1, pg_query.Token_LIMIT, pg_query.Token_OFFSET), c.tailEnd)
			j := i + 2 // after FIRST or NEXT
			k := j
			for k < to && !(c.depth[k] == 0 && (c.tok(k) == pg_query.Token_ROW || c.tok(k) == pg_query.Token_ROWS)) {
				k++
			}
			c.limit, c.fetch = [2]int{j, k}, true
			i = to
		default:
			i++
		}
	}
	return nil
}

// boundsCheck keeps LIMIT and OFFSET in the text only to have
// PostgreSQL reject a negative one, rows or none, as it would: they are
// NULL (no limit) otherwise. The never-taken branch of the expression as
// written keeps PostgreSQL's type check (42804): LIMIT takes what is
// assignable to bigint, which a text value (a text cast, a parameter
// declared text) is not, though the explicit cast would read it.
func (c *sortCut) boundsCheck(sp *SortPlan) string {
	var b strings.Builder
	check := func(clause, expr string) {
		b.WriteString(" " + clause + " CASE WHEN CAST((" + expr + ") AS pg_catalog.int8) < 0 THEN CAST((" + expr + ") AS pg_catalog.int8) WHEN false THEN (" + expr + ") END")
	}
	if sp.Limit >= 0 && !(c.fetch && c.limit[1] <= c.limit[0]) {
		check("LIMIT", c.text(c.limit))
	}
	if sp.Offset >= 0 {
		check("OFFSET", c.text(c.offset))
	}
	return b.String()
}

// keyText is the expression of an ORDER BY item, without its direction
// and NULLS order.
func (c *sortCut) keyText(item [2]int) string {
	to := item[1]
	for to > item[0] {
		switch c.tok(to - 1) {
		case pg_query.Token_ASC, pg_query.Token_DESC, pg_query.Token_NULLS_LA, pg_query.Token_NULLS_P:
			to--
			continue
		case pg_query.Token_FIRST_P, pg_query.Token_LAST_P:
			if t := c.tok(to - 2); t == pg_query.Token_NULLS_LA || t == pg_query.Token_NULLS_P {
				to -= 2
				continue
			}
		}
		break
	}
	return c.text([2]int{item[0], to})
}

// rankText is hidden rank i: the window, or the key's value
// (sort_native.go).
func (c *sortCut) rankText(sp *SortPlan, i int) string {
	if t, ok := c.nativeText(sp, i); ok {
		return t
	}
	if i == c.arrive {
		return arrivalRankText // sort_arrival.go
	}
	h := sp.hidden[i]
	var keys []string
	for k := h.from; k < h.to; k++ {
		keys = append(keys, c.itemWithOrder(sp, k))
	}
	return "CAST(pg_catalog.dense_rank() OVER (" + c.rankPartition(sp, h) + "ORDER BY " + strings.Join(keys, ", ") + ") AS pg_catalog.text)"
}

// targetText is a select-list entry's expression, without its name.
func (c *sortCut) targetText(i int, labelled bool) string {
	r := c.targets[i]
	if labelled {
		r[1]--
		if c.tok(r[1]-1) == pg_query.Token_AS {
			r[1]--
		}
	}
	return c.text(r)
}

// hiddenText is the hidden columns, each after a comma.
func (c *sortCut) hiddenText(sp *SortPlan) (string, error) {
	var b strings.Builder
	for i, h := range sp.hidden {
		b.WriteString(", ")
		switch h.kind {
		case hiddenColumnKey:
			b.WriteString(c.itemExpr(sp, h.from))
		case hiddenRank:
			b.WriteString(c.rankText(sp, i))
		case hiddenFilterColumn:
			if h.from >= len(c.filters) {
				return "", errors.New("a filter the text does not have")
			}
			b.WriteString(c.text(c.filters[h.from].column))
		case hiddenEncoding:
			b.WriteString("CAST(pg_catalog.getdatabaseencoding() AS pg_catalog.text)")
		case hiddenCollation:
			b.WriteString(collationProbe(h.col, sp.analysedBefore(h.col)))
		case hiddenCtype:
			b.WriteString(ctypeProbe(h.col, h.calls, sp.analysedBefore(h.col)))
		case hiddenSubArray:
			if h.from >= len(c.subs) {
				return "", errors.New("a subquery the text does not have")
			}
			b.WriteString(c.subs[h.from].hidden)
		case hiddenBoolLeaf:
			t, err := c.plainLeafText(h.from)
			if err != nil {
				return "", err
			}
			b.WriteString(t)
		case hiddenHaving:
			t, err := c.havingLeafText(sp, h.from)
			if err != nil {
				return "", err
			}
			b.WriteString(t)
		case hiddenShadow:
			b.WriteString(shadowProbe(h))
		case hiddenDeterministic:
			b.WriteString(collationProbe(h.col, sp.analysedBefore(h.col))) // the proxy's catalog says whether it is deterministic
		case hiddenDistinctRank:
			var keys []string
			for _, t := range h.targets {
				keys = append(keys, "("+c.targetText(t, sp.labelled[t])+")")
			}
			b.WriteString("CAST(pg_catalog.dense_rank() OVER (" + c.rankPartition(sp, h) + "ORDER BY " + strings.Join(keys, ", ") + ") AS pg_catalog.text)")
		case hiddenRoundK:
			t, err := c.roundHidden(sp, h) // sort_rounds.go
			if err != nil {
				return "", err
			}
			b.WriteString(t)
		case hiddenLimit:
			expr := c.text(c.limit)
			if expr == "" && c.fetch {
				expr = "1"
			}
			if expr == "" {
				return "", errors.New("LIMIT without its expression")
			}
			b.WriteString("CAST(CAST((" + expr + ") AS pg_catalog.int8) AS pg_catalog.text)")
		case hiddenOffset:
			expr := c.text(c.offset)
			if expr == "" {
				return "", errors.New("OFFSET without its expression")
			}
			b.WriteString("CAST(CAST((" + expr + ") AS pg_catalog.int8) AS pg_catalog.text)")
		}
		b.WriteString(c.hiddenName(sp)) // sort_rounds_plain.go
	}
	return b.String(), nil
}

// itemExpr is what ORDER BY item i sorts by: its expression, or the
// select-list entry it names.
func (c *sortCut) itemExpr(sp *SortPlan, i int) string {
	if t := sp.items[i]; t >= 0 {
		return "(" + c.targetText(t, sp.labelled[t]) + ")"
	}
	return c.keyText(c.items[i])
}

// itemWithOrder is item i as a window's ORDER BY item: the expression
// with the direction, NULLS and USING the client wrote.
func (c *sortCut) itemWithOrder(sp *SortPlan, i int) string {
	item := c.items[i]
	if sp.items[i] < 0 {
		return c.text(item)
	}
	// What follows the ordinal or output name is the direction
	// (sort_rounds_plain.go nameEnd).
	return strings.TrimSpace(c.itemExpr(sp, i) + " " + c.text([2]int{c.nameEnd(item), item[1]}))
}

func quoteSQLString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// verifySort parses the rewritten text: one SELECT, no ORDER BY, no LIMIT
// or OFFSET but boundsCheck's, and the select list grown by the hidden
// columns.
func verifySort(sql string, targets int, sp *SortPlan, c *sortCut) error {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return err
	}
	st := tree.GetStmts()
	if len(st) != 1 || st[0].GetStmt().GetSelectStmt() == nil {
		return errors.New("the rewrite is not one SELECT")
	}
	s := st[0].GetStmt().GetSelectStmt()
	bound := func(n *pg_query.Node) bool { return n == nil || n.GetCaseExpr() != nil }
	if err := verifyRounds(s, sp, c); err != nil { // sort_rounds.go
		return err
	}
	if sp.Rounds == nil && !bound(s.GetLimitCount()) || !bound(s.GetLimitOffset()) || len(s.GetTargetList()) != targets {
		return errors.New("the rewrite did not take the expected shape")
	}
	if len(sp.Aggregates) > 0 && hasAggregateCall(s) {
		return errors.New("the rewrite kept an aggregate")
	}
	if sp.Grouped && (len(s.GetGroupClause()) > 0 || s.GetHavingClause() != nil) {
		return errors.New("the rewrite kept its GROUP BY or HAVING")
	}
	if len(sp.Distinct) > 0 && len(s.GetDistinctClause()) > 0 {
		return errors.New("the rewrite kept its DISTINCT")
	}
	if sp.whereFilters() && conjunctsPastProbes(s.GetWhereClause(), sp.probes) != sp.conjuncts+c.flattened {
		return errors.New("the rewrite's WHERE did not keep its conjuncts")
	}
	return nil
}

// aggregateArgs is, per select-list entry, the text of an aggregate's
// argument, without DISTINCT or ALL (1 for count(*)), or the entry.
func (c *sortCut) aggregateArgs(sp *SortPlan) ([]string, error) {
	var out []string
	agg := map[int]bool{}
	for _, a := range sp.Aggregates {
		agg[a.Target] = true
	}
	for i, t := range c.targets {
		if !agg[i] {
			out = append(out, c.text(t))
			continue
		}
		open := t[0]
		for open < t[1] && !(c.depth[open] == 0 && c.tok(open) == pg_query.Token_ASCII_40) {
			open++
		}
		end := open + 1
		for end < t[1] && !(c.depth[end] == 0 && c.tok(end) == pg_query.Token_ASCII_41) {
			end++
		}
		if end >= t[1] {
			return nil, errors.New("an aggregate without its argument")
		}
		from := open + 1
		if t := c.tok(from); t == pg_query.Token_DISTINCT || t == pg_query.Token_ALL {
			from++
		}
		arg := c.text([2]int{from, end})
		if arg == "*" || arg == "" {
			arg = "1"
		}
		out = append(out, arg)
	}
	return out, nil
}
