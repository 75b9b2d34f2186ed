package sqlrewrite

import (
	"errors"
	"math"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// ORDER BY ... LIMIT through an order term (docs/design/search-terms.md
// §4.6; slice 5). A statement phiguard sorts whose ORDER BY begins with
// plaintext keys and then an encrypted column with a ready order term
// ("keys sent": the plaintext keys as written, the order-term key through
// phiguard.term_ord_v1, ending at it) and which has a LIMIT is sent with
//
//	ORDER BY <keys sent> OFFSET <bounds check> FETCH FIRST (<k>) ROWS WITH TIES
//
// so that the database returns, in rounds, the first k candidates in that
// order and every candidate tying with the k-th. k is computed by the
// database from the statement's own LIMIT and OFFSET and phiguard's round
// multiplier M (a literal in a simple Query, a parameter phiguard adds in
// a prepared statement):
//
//	k = least((ceil(1.25·(OFFSET + LIMIT)) + 16)·M, 2^63-1)
//
// in numeric, so no bound overflows; a NULL LIMIT makes it 2^63-1 (every
// candidate: LEAST skips NULL), a negative one is PostgreSQL's own error
// as without rounds. phiguard reads k back from a hidden column, and the
// order term of the first order-term key from another (the consistency
// check), and decides after each round (guard/protect_rounds.go). Only
// the rows phiguard keeps after its re-check and exact sort reach the
// client; a candidate the database did not return has a term strictly
// greater (in the key's direction) than every returned one, so a value
// strictly after theirs.
//
// Kept to the prefix that ends at an order-term key; a statement sorting
// by plaintext keys only (its filters on encrypted columns) runs in plain
// rounds (sort_rounds_plain.go); one with DISTINCT, aggregates, GROUP BY
// or HAVING keeps one round without ORDER BY, as before slice 5.
//
// A statement with a LIMIT and no ORDER BY at all (its filters on
// encrypted columns) runs in unordered rounds: FETCH FIRST k ROWS ONLY,
// no keys, no ties. PostgreSQL may return any LIMIT rows that pass the
// WHERE, so any OFFSET + LIMIT rows phiguard keeps from one round (one
// snapshot) are an answer the plaintext could give; a round that returns
// fewer than k rows returned every candidate.

// RoundPlan is how a statement runs in rounds.
type RoundPlan struct {
	// Sent is the number of ORDER BY items the database sorts by; the
	// last is the order-term key, Keys[Key] in the SortPlan.
	Sent, Key int
	// Column is the order-term key's column.
	Column *policy.ProtectedColumn
	// K is the hidden index of the round's k (text int8). phiguard reads
	// the order term of each row for the consistency check from the
	// key's own cell (keys.AppendOrderTerm), which the row holds as a
	// select-list entry or a hidden column (Keys[Key]).
	K int
	// Agg: the statement is min(col) or max(col) alone
	// (planAggregateRounds), need is 1 and Key is the aggregate's index.
	Agg bool
}

// Unordered: the statement has no ORDER BY: Sent is 0, Column nil, Key
// -1.
func (r *RoundPlan) Unordered() bool { return r.Sent == 0 && !r.Agg }

// withTies: the round fetches WITH TIES (ordered by a term, and min and
// max); unordered and plain rounds fetch ROWS ONLY (sort_rounds_plain.go).
func (r *RoundPlan) withTies() bool { return !r.Unordered() && !r.Plain() }

// TermKey: the database orders the rows by an order-term key, Keys[Key]
// (not min or max, unordered or plain rounds), whose order phiguard
// checks against the values (guard/protect_rounds.go).
func (r *RoundPlan) TermKey() bool { return r.Column != nil && !r.Agg && r.Key >= 0 }

const hiddenRoundK hiddenKind = 100 // the round's k, as the FETCH evaluates it

// orderTermColumn: an encrypted key the database can order through the
// column's order term.
func orderTermColumn(col *policy.ProtectedColumn) bool {
	return col != nil && col.SearchState == policy.SearchReady && col.Search.Has(policy.SearchOrder)
}

// planRounds gives sp its RoundPlan when the statement can run in rounds.
func (sp *SortPlan) planRounds(items []sortItem) {
	if sp.Limit < 0 || len(sp.Distinct) > 0 || len(sp.Aggregates) > 0 || sp.Grouped || sp.Having != nil || namesHidden(items) {
		return
	}
	if len(items) == 0 {
		sp.hidden = append(sp.hidden, hiddenColumn{kind: hiddenRoundK})
		sp.Rounds = &RoundPlan{Key: -1, K: len(sp.hidden) - 1}
		sp.Hidden = len(sp.hidden)
		return
	}
	if sp.planPlainRounds(items) { // sort_rounds_plain.go
		return
	}
	key := 0
	for i := 0; i < len(items); {
		it := items[i]
		if it.agg > 0 {
			return
		}
		if it.col == nil { // a run of plaintext keys is one key
			for i < len(items) && items[i].col == nil && items[i].agg == 0 {
				i++
			}
			key++
			continue
		}
		if !orderTermColumn(it.col) || key >= len(sp.Keys) || sp.Keys[key].Column != it.col {
			return
		}
		add := func(h hiddenColumn) int {
			sp.hidden = append(sp.hidden, h)
			return len(sp.hidden) - 1
		}
		sp.Rounds = &RoundPlan{Sent: i + 1, Key: key, Column: it.col}
		sp.Rounds.K = add(hiddenColumn{kind: hiddenRoundK})
		sp.Hidden = len(sp.hidden)
		return
	}
}

// planAggregateRounds gives a statement whose one select-list entry is
// min(col) or max(col) of a ready order-term column, computed by phiguard
// (planner_aggregate.go), one ordered round: ORDER BY the term, ascending
// for min and descending for max, NULLs last, FETCH FIRST 18·M ROWS WITH
// TIES (need = 1: ⌈1.25⌉ + 16). The first non-NULL value phiguard keeps
// (its WHERE re-checked) ends the rounds: a row not returned has a term
// strictly after every returned one, so a value strictly after theirs.
func (sp *SortPlan) planAggregateRounds() {
	if len(sp.Aggregates) != 1 || sp.Grouped || sp.Having != nil || len(sp.Distinct) > 0 || sp.Limit >= 0 || sp.Offset >= 0 {
		return
	}
	a := sp.Aggregates[0]
	if a.Func != "min" && a.Func != "max" || a.Distinct || !orderTermColumn(a.Column) {
		return
	}
	sp.hidden = append(sp.hidden, hiddenColumn{kind: hiddenRoundK})
	sp.Rounds = &RoundPlan{Sent: 1, Column: a.Column, K: len(sp.hidden) - 1, Agg: true}
	sp.Hidden = len(sp.hidden)
}

// RewriteSortRounds is RewriteSortTerms for a statement with a RoundPlan:
// mult is the text of the round multiplier M (a positive integer literal,
// or a parameter phiguard adds, "$n"); natives as for RewriteSortTerms.
func RewriteSortRounds(sql []byte, sp *SortPlan, terms [][]TermArg, mult string, natives NativeColumn) ([]byte, error) {
	if sp.Rounds == nil {
		return nil, errors.New("a round multiplier for a statement without rounds")
	}
	if hasTerms(terms) && len(terms) != len(sp.Filters) {
		return nil, errors.New("term constants disagree with the statement's plan")
	}
	return memoTerms(sp, sql, terms, mult, natives, func() ([]byte, error) {
		return rewriteSortCut(sql, sp, func(c *sortCut) error {
			c.mult, c.natives = mult, natives
			if hasTerms(terms) {
				return c.placeTerms(sp, terms)
			}
			return nil
		})
	})
}

// multText is the round multiplier as the text uses it (numeric).
func (c *sortCut) multText() string {
	m := c.mult
	if m == "" {
		m = "1" // RewriteSort of a plan with rounds (golden tests): the first round
	}
	return "CAST(" + m + " AS pg_catalog.numeric)"
}

// roundCount is the FETCH FIRST count: the client's negative LIMIT as
// itself (PostgreSQL's error), otherwise k.
func (c *sortCut) roundCount(sp *SortPlan) (string, error) {
	if sp.Rounds.Agg {
		return "CAST(LEAST(18 OPERATOR(pg_catalog.*) " + c.multText() + ", 9223372036854775807) AS pg_catalog.int8)", nil
	}
	lim := c.text(c.limit)
	if lim == "" && c.fetch {
		lim = "1"
	}
	if lim == "" {
		return "", errors.New("LIMIT without its expression")
	}
	if k, ok := c.constantCount(sp, lim); ok {
		return k, nil
	}
	l := "CAST((" + lim + ") AS pg_catalog.int8)"
	need := "CAST(" + l + " AS pg_catalog.numeric)"
	if off := c.text(c.offset); off != "" {
		need = "(" + need + " OPERATOR(pg_catalog.+) COALESCE(CAST(CAST((" + off + ") AS pg_catalog.int8) AS pg_catalog.numeric), 0))"
	}
	fetch := "(pg_catalog.ceil(1.25 OPERATOR(pg_catalog.*) " + need + ") OPERATOR(pg_catalog.+) 16)"
	if c.exactCandidates(sp) {
		fetch = need
	}
	k := "CAST(LEAST(" + fetch + " OPERATOR(pg_catalog.*) " + c.multText() + ", 9223372036854775807) AS pg_catalog.int8)"
	return "(CASE WHEN " + l + " OPERATOR(pg_catalog.<) 0 THEN " + l + " WHEN false THEN (" + lim + ") ELSE " + k + " END)", nil
}

// constantCount is k computed here when LIMIT and OFFSET are unsigned
// integer literals (LIMIT 50): no type to check, no negative value to
// leave to PostgreSQL's error, and the CASE and numeric arithmetic that
// the database would fold cost it ~0.015 ms of planning per statement
// (bench-search's first query); only M is left to it when a parameter
// carries it.
func (c *sortCut) constantCount(sp *SortPlan, lim string) (string, bool) {
	l, ok := smallCount(lim)
	o := int64(0)
	if off := c.text(c.offset); off != "" && ok {
		o, ok = smallCount(off)
	}
	if !ok {
		return "", false
	}
	fetch := l + o
	if !c.exactCandidates(sp) {
		fetch = (5*fetch+3)/4 + 16 // ceil(1.25·need) + 16
	}
	m := c.mult
	if m == "" {
		m = "1"
	}
	if mult, ok := smallCount(m); ok {
		k := int64(math.MaxInt64)
		if mult == 0 || fetch <= math.MaxInt64/mult {
			k = fetch * mult
		}
		return "CAST(" + strconv.FormatInt(k, 10) + " AS pg_catalog.int8)", true
	}
	return "CAST(LEAST(CAST(" + strconv.FormatInt(fetch, 10) + " AS pg_catalog.numeric) OPERATOR(pg_catalog.*) " + c.multText() +
		", 9223372036854775807) AS pg_catalog.int8)", true
}

// smallCount reads an unsigned integer literal of at most 15 digits.
func smallCount(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// limitText is the text's LIMIT and OFFSET: boundsCheck's, or for a
// statement in rounds its ORDER BY and FETCH (roundsTail).
func (c *sortCut) limitText(sp *SortPlan) (string, error) {
	if sp.Rounds == nil {
		return c.arrivalOrder(sp) + c.boundsCheck(sp), nil // sort_arrival.go
	}
	return c.roundsTail(sp)
}

// roundsTail is what replaces boundsCheck's clauses for a statement in
// rounds: the keys sent, the OFFSET check, and the FETCH.
func (c *sortCut) roundsTail(sp *SortPlan) (string, error) {
	r := sp.Rounds
	if r.Agg {
		return c.aggregateRound(sp)
	}
	if r.Sent > len(c.items) || r.Key >= len(sp.Keys) || r.withTies() && r.Key < 0 {
		return "", errors.New("the ORDER BY does not match the statement's plan")
	}
	count, err := c.roundCount(sp)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if r.Plain() {
		b.WriteString(c.plainKeys(sp)) // sort_rounds_plain.go
	} else if !r.Unordered() {
		var keys []string
		for i := 0; i < r.Sent-1; i++ {
			keys = append(keys, c.sentItem(sp, i)) // sort_rounds_plain.go
		}
		k := sp.Keys[r.Key]
		key := "phiguard.term_ord_v1(" + c.itemExpr(sp, r.Sent-1) + ")" + map[bool]string{true: " DESC", false: " ASC"}[k.Desc] +
			map[bool]string{true: " NULLS FIRST", false: " NULLS LAST"}[k.NullsFirst]
		b.WriteString(" ORDER BY " + strings.Join(append(keys, key), ", "))
	}
	if sp.Offset >= 0 {
		off := c.text(c.offset)
		b.WriteString(" OFFSET CASE WHEN CAST((" + off + ") AS pg_catalog.int8) < 0 THEN CAST((" + off + ") AS pg_catalog.int8) WHEN false THEN (" + off + ") END")
	}
	b.WriteString(" FETCH FIRST " + count + map[bool]string{true: " ROWS WITH TIES", false: " ROWS ONLY"}[r.withTies()])
	return b.String(), nil
}

// aggregateRound is the ORDER BY and FETCH of min's or max's round.
func (c *sortCut) aggregateRound(sp *SortPlan) (string, error) {
	a := sp.Aggregates[0]
	args, err := c.aggregateArgs(sp)
	if err != nil || a.Target >= len(args) {
		return "", errors.New("an aggregate without its argument")
	}
	count, _ := c.roundCount(sp)
	dir := map[bool]string{true: " DESC", false: " ASC"}[a.Func == "max"]
	return " ORDER BY phiguard.term_ord_v1(" + args[a.Target] + ")" + dir + " NULLS LAST FETCH FIRST " + count + " ROWS WITH TIES", nil
}

// rankPartition is the PARTITION BY of a plaintext run's rank that
// comes after a statement's order-term key in rounds, "" for any other.
// A window over every candidate made PostgreSQL read and sort them all
// before FETCH FIRST cut them (700 ms for `ILIKE 'gle%' ORDER BY last,
// first, id LIMIT 50` on 1,000,000 patients: BENCHMARKS.md); ranked
// within each order term, the window streams in the term's index order
// (Incremental Sort on the term, then the run) and stops at the FETCH.
// phiguard compares two rows' ranks only when every key before the run
// is equal for them, encrypted ones on their values; equal values have
// equal order terms, so such rows are always in one partition, where
// their ranks order them as over every row. Only the term partitions:
// a plaintext key sent before it may order by a USING operator whose
// equality PARTITION BY (the type's default) would not share.
//
// Not for a column sealed per subject: a shredded subject's cell reads
// NULL (or the shredded marker) while its term may still be its old
// value's (docs/shredding.md), so rows equal on the value can sit in
// different partitions, whose ranks do not compare
// (TestShredInterruptedBetweenSteps: ORDER BY name DESC, id put the
// shredded rows' NULLs in the order of their old names). Such a rank is
// over every candidate, as before rounds.
func (c *sortCut) rankPartition(sp *SortPlan, h hiddenColumn) string {
	r := sp.Rounds
	if r == nil || r.Agg || r.Unordered() || r.Plain() || h.from < r.Sent || r.Column.PerSubject() {
		return ""
	}
	return "PARTITION BY phiguard.term_ord_v1(" + c.itemExpr(sp, r.Sent-1) + ") "
}

// roundHidden is the text of a round's hidden column, k: a scalar
// subquery, which PostgreSQL evaluates once (an InitPlan) where the bare
// expression's numeric arithmetic ran for every row.
func (c *sortCut) roundHidden(sp *SortPlan, h hiddenColumn) (string, error) {
	if h.kind != hiddenRoundK {
		return "", errors.New("a hidden column of an unknown kind")
	}
	count, err := c.roundCount(sp)
	return "(SELECT CAST(" + count + " AS pg_catalog.text))", err
}

// verifyRounds checks the rewritten statement's ORDER BY and FETCH.
func verifyRounds(s *pg_query.SelectStmt, sp *SortPlan, c *sortCut) error {
	if len(s.GetSortClause()) != c.sentItems(sp) { // sort_arrival.go
		return errors.New("the rewrite did not take the expected shape")
	}
	if sp.Rounds != nil {
		option := pg_query.LimitOption_LIMIT_OPTION_COUNT
		if sp.Rounds.withTies() {
			option = pg_query.LimitOption_LIMIT_OPTION_WITH_TIES
		}
		if s.GetLimitOption() != option || s.GetLimitCount() == nil {
			return errors.New("the rewrite did not take the expected shape")
		}
	}
	if c.hiddenNamed(sp) { // the hidden columns are named hiddenAlias (sort_arrival.go)
		tl := s.GetTargetList()
		for _, t := range tl[max(len(tl)-sp.Hidden, 0):] {
			if t.GetResTarget().GetName() != hiddenAlias {
				return errors.New("the rewrite did not name its hidden columns")
			}
		}
	}
	return nil
}

// roundsString describes the rounds for golden tests.
func (sp *SortPlan) roundsString() string {
	if sp.Rounds == nil {
		return ""
	}
	if sp.Rounds.Unordered() {
		return "; database returns FETCH FIRST k rows, unordered (#" + strconv.Itoa(sp.Rounds.K) + ")"
	}
	if sp.Rounds.Plain() {
		return "; database orders by the client's ORDER BY (plaintext keys only), FETCH FIRST k ROWS ONLY (#" + strconv.Itoa(sp.Rounds.K) + ")"
	}
	if sp.Rounds.Agg {
		return "; database orders by the order term of " + sp.Rounds.Column.QualifiedName() + ", FETCH FIRST k WITH TIES (#" + strconv.Itoa(sp.Rounds.K) + ")"
	}
	return "; database orders by " + strconv.Itoa(sp.Rounds.Sent) + " keys, the last through the order term of " +
		sp.Rounds.Column.QualifiedName() + ", FETCH FIRST k WITH TIES (#" + strconv.Itoa(sp.Rounds.K) + ")"
}

// exactCandidates: every candidate the round's text lets through passes
// phiguard's WHERE too, so k need not leave room for the rows the
// re-check drops (the 1.25·n + 16 of roundCount): a statement with no
// WHERE phiguard evaluates, or whose every filter is a >=, <= or BETWEEN
// of its own conjunct, sent this round as an order-term range over a
// type whose order term is exact (int2, int4, int8, date, timestamp,
// timestamptz, time: sort keys of at most 8 bytes, which the order term
// keeps whole, so equal terms are equal values and the term range is
// the value range). > and < are sent as >= and <=, whose equal rows the
// re-check drops; a LIKE's match terms have false positives. An inexact
// guess costs only a further round. bench-search's third query fetched
// 141 rows and their ties for a LIMIT of 100.
func (c *sortCut) exactCandidates(sp *SortPlan) bool {
	if len(sp.Trees) > 0 || len(sp.groups) > 0 {
		return false
	}
	// c.terms follows the statement's own WHERE's filters (placeTerms);
	// with none in a subquery or a HAVING, their indexes are sp.Filters'.
	for i, f := range sp.Filters {
		switch {
		case f.Group != 0, f.Having, f.Tree != 0, f.ColumnFold != FoldNone, f.Term != TermOrd,
			i >= len(c.terms), c.terms[i] == "", !exactOrderTerm(f.Column.Type):
			return false
		case f.Op != FilterGe && f.Op != FilterLe && f.Op != FilterBetween:
			return false
		}
	}
	return true
}

// exactOrderTerm: the type's order term orders and equates its values
// exactly (exactCandidates).
func exactOrderTerm(t policy.LogicalType) bool {
	switch t.OID {
	case policy.OIDInt2, policy.OIDInt4, policy.OIDInt8, policy.OIDDate, policy.OIDTimestamp, policy.OIDTimestamptz, policy.OIDTime:
		return true
	}
	return false
}
