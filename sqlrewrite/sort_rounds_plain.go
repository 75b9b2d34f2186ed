package sqlrewrite

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Rounds for an ORDER BY of plaintext keys only (docs/search.md, "LIMIT
// through an order term"): a statement whose encrypted columns are all in
// its WHERE (filters phiguard evaluates), sorting by plaintext keys with
// a LIMIT, say an ORM's list with a search box
//
//	SELECT ... WHERE last ILIKE '%mit%' ORDER BY id LIMIT 50
//
// is sent with its ORDER BY as the client wrote it (keys, directions,
// NULLS, USING) and FETCH FIRST k ROWS ONLY, k as for ordered rounds
// (roundCount), and no rank: phiguard keeps the rows in the order they
// arrive (SortPlan.Keys is empty), re-checks its filters and cuts OFFSET
// and LIMIT, reading more rounds while it keeps fewer than OFFSET + LIMIT.
//
// Why ROWS ONLY and not WITH TIES is exact: the database's sort puts the
// candidates (the rows its WHERE passes, a superset of the answer) in
// some total order consistent with the keys, and FETCH FIRST k returns a
// prefix of it, so a candidate it did not return sorts at or after every
// returned one. Those of the prefix phiguard keeps are then the first
// rows, in that order, of the rows that pass every predicate, and that
// order is consistent with the keys: it is one of the orders the
// plaintext statement may return, for PostgreSQL breaks ties among equal
// keys arbitrarily too (a candidate left out that ties with a returned
// one is one PostgreSQL could have placed after it). A round that
// returns fewer than k rows returned every candidate. Each round is one
// statement, one snapshot, as for ordered rounds.
//
// Without a LIMIT (or with LIMIT ALL or NULL) the statement keeps the
// rank of its keys and no ORDER BY, as before: the database returns
// every candidate either way, and the rank is what phiguard did before,
// proven by the existing tests.
//
// The keys are sent so that they mean what the client's did (sentItem,
// for ordered rounds too): an item naming a select-list entry (a
// position or an output name) as that entry's position, which the hidden
// columns after the client's cannot change, where the entry's expression
// could itself be a bare name another entry's output name takes; any
// other item as written, the hidden columns named hiddenAlias so that a
// bare name cannot be taken for one of them (PostgreSQL's SQL-92 rule
// matches output names first: a hidden CAST(... AS text) is named
// "text"). A statement with a bare name that is hiddenAlias does not run
// in rounds (namesHidden).

// hiddenAlias names every hidden column of a statement sent with an
// ORDER BY of the client's items, in ordered or plain rounds (namedHidden).
const hiddenAlias = "phiguard hidden"

// Plain: the ORDER BY has plaintext keys only (planPlainRounds), sent as
// written: Sent is the number of items, Column nil, Key and Term -1.
func (r *RoundPlan) Plain() bool { return r.Sent > 0 && r.Column == nil && !r.Agg }

// planPlainRounds gives a statement sorting by plaintext keys only its
// plain rounds: the rank of its keys, the plan's one key, becomes the
// round's k, so that no other hidden index moves.
func (sp *SortPlan) planPlainRounds(items []sortItem) bool {
	if len(sp.Keys) != 1 || sp.Keys[0].Column != nil || sp.Keys[0].Agg != 0 {
		return false
	}
	for _, it := range items {
		if it.col != nil || it.agg > 0 {
			return false
		}
	}
	at := sp.Keys[0].Value
	if h := sp.hidden[at]; h.kind != hiddenRank || h.from != 0 || h.to != len(items) {
		return false
	}
	sp.hidden[at] = hiddenColumn{kind: hiddenRoundK}
	sp.Keys = nil
	sp.Rounds = &RoundPlan{Sent: len(items), Key: -1, K: at}
	return true
}

// namesHidden: an ORDER BY item is the bare name hiddenAlias, which the
// hidden columns of a statement in rounds are named.
func namesHidden(items []sortItem) bool {
	for _, it := range items {
		if it.target < 0 && bareName(it.node) == hiddenAlias {
			return true
		}
	}
	return false
}

// bareName is the name of a one-name column reference, "" for anything
// else.
func bareName(n *pg_query.Node) string {
	ref := n.GetColumnRef()
	if ref == nil || len(ref.GetFields()) != 1 || ref.GetFields()[0].GetString_() == nil {
		return ""
	}
	return ref.GetFields()[0].GetString_().GetSval()
}

// plainKeys is the ORDER BY of plain rounds: every item, sent.
func (c *sortCut) plainKeys(sp *SortPlan) string {
	var keys []string
	for i := range c.items {
		keys = append(keys, c.sentItem(sp, i))
	}
	return " ORDER BY " + strings.Join(keys, ", ")
}

// sentItem is plaintext ORDER BY item i as a round or the trailing run
// (sort_arrival.go) sends it: as written, or, naming a select-list entry,
// as the entry's position. After a * the entry's position in the client's
// list is not its position in the list PostgreSQL expands (`SELECT p.*,
// grp ... ORDER BY name, grp`: 2 is the *'s second column, red team 31d),
// so the name is sent as written: the text's select list has the
// client's entries and names, its hidden columns named hiddenAlias.
func (c *sortCut) sentItem(sp *SortPlan, i int) string {
	item := c.items[i]
	if t := sp.items[i]; t >= 0 && !c.starBefore(t) {
		return strings.TrimSpace(strconv.Itoa(t+1) + " " + c.text([2]int{c.nameEnd(item), item[1]}))
	}
	return c.text(item)
}

// nameEnd is the token after ORDER BY item's ordinal or output name,
// which may be in parentheses (`(grp) DESC`, `((3))`: the same item to
// PostgreSQL); what follows is the direction, NULLS or USING.
func (c *sortCut) nameEnd(item [2]int) int {
	if c.tok(item[0]) == pg_query.Token_ASCII_40 {
		if j := c.closing(item[0], item[1]); j >= 0 {
			return j + 1
		}
	}
	return item[0] + 1
}

// starBefore: a select-list entry up to entry t is a * or x.* (its last
// token a *).
func (c *sortCut) starBefore(t int) bool {
	for _, e := range c.targets[:min(t+1, len(c.targets))] {
		if e[1] > e[0] && c.tok(e[1]-1) == pg_query.Token_ASCII_42 {
			return true
		}
	}
	return false
}

// namedHidden: the statement is sent with an ORDER BY of the client's
// items (ordered or plain rounds), so its hidden columns are named
// hiddenAlias.
func namedHidden(sp *SortPlan) bool {
	return sp.Rounds != nil && !sp.Rounds.Agg && sp.Rounds.Sent > 0
}

// hiddenName is what follows a hidden column's expression in the text.
func (c *sortCut) hiddenName(sp *SortPlan) string {
	if c.hiddenNamed(sp) { // sort_arrival.go
		return " AS " + `"` + hiddenAlias + `"`
	}
	return ""
}
