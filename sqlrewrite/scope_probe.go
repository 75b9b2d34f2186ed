package sqlrewrite

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
)

// A name the plan binds past an inner level's tables binds there only
// while those tables lack it: in SELECT count(*) FROM people WHERE
// EXISTS (SELECT 1 FROM z WHERE tag = 't1'), tag is people.tag,
// encrypted, only while z has no tag (bindName, Plan.Unshadowed); and a
// name the catalog binds to x.tag is x's only while the tables inside
// x's level lack it (innerTable). The guard checks its catalog before it
// sends such a statement, but the catalog may be stale: DDL sent straight
// to the database, a temporary table a function makes, a column renamed
// after a REPEATABLE READ snapshot. PostgreSQL would then bind the name to
// z's column: a different answer (red team 35b, 36, 37).
//
// So the statement checks it itself. Into the WHERE of each level with
// such a table, phiguard puts a probe, one per name:
//
//	WHERE (SELECT "tag" FROM (SELECT NULL AS "tag") AS phiguard_lacks, ONLY "z" AS phiguard_1 LIMIT 0) IS NULL AND ...
//
// PostgreSQL resolves names as it parses the statement, from the catalog
// as it is then (its caches, not the transaction's snapshot), and
// resolves "z" there as it does in the statement's FROM (the same search
// path, the same WITH queries in sight). If z has a column tag, the
// probe's "tag" is ambiguous (42702): the statement fails before it
// runs, and the guard
// turns the error into a refusal and reads its catalog again
// (LackedNameRefusal). If z lacks it, the probe reads no row and is true
// (its NULL); PostgreSQL plans it as a one-time filter (no change to the
// query's plan). TRUE AND w is w, and AND binds tighter than OR, so the
// WHERE keeps its meaning. A function called in FROM cannot be named
// again (its arguments may be the level's columns): its item's row is
// probed instead, (SELECT "tag" FROM (SELECT "f".*, NULL AS "tag") ...).
//
// A level without a WHERE gets one, holding its probes, after its FROM
// clause. A WHERE phiguard filters in the proxy (a top-level one, or an
// IN or EXISTS subquery's, planner_subfilter.go) holds its probes first
// too: the proxy's cut of it skips them (sort_probe_skip.go). An item no
// name reaches alone from the WHERE gets no probe: for those the guard's
// catalog check is all.

// probeAlias names the probe's row of the name (sort_probe_skip.go
// knows a probe by it).
const probeAlias = "phiguard_lacks"

// lackProbe is one table, or one function's item, that must lack a
// name, at the level whose WHERE holds its probe.
type lackProbe struct {
	level *scope
	// table is a table the level names, probed by its name as the
	// statement writes it; item, for a function called in FROM (which
	// cannot be called again), is probed through its row (f.*).
	table TableName
	item  *relation
	name  string
	// bound is the item the catalog binds the name to (innerTable),
	// nil for an outer level's encrypted column: an item whose row
	// passes bound's columns (a join alias over both) has the name, and
	// is not probed through its row.
	bound *relation
}

// LackedName is a name a plan's text checks that inner items lack
// (Plan.Lacking): Items are the tables and items probed, as the probe
// names them.
type LackedName struct {
	Name  string
	Items []string
}

// probe notes that table t of item r, at level, must lack name for it
// to bind to bound (nil: an outer level's encrypted column).
func (c *catalogChecks) probe(level *scope, r *relation, t TableName, name string, bound *relation) {
	if c == nil || level == nil {
		return
	}
	x := lackProbe{level: level.level(), name: name, bound: bound}
	if t.Function {
		x.item = r
	} else {
		x.table = t
	}
	if !slices.Contains(c.probes, x) {
		c.probes = append(c.probes, x)
	}
}

// probeInner notes a probe for every table, from s out to the level of
// the binding's items, that must lack name.
func (s *scope) probeInner(name string, bound []*relation) {
	for lvl := s; lvl != nil; lvl = lvl.parent {
		for _, r := range lvl.relations {
			if slices.Contains(bound, r) {
				return
			}
		}
		for _, r := range lvl.relations {
			_, unless, _ := r.hasColumn(name)
			for _, t := range unless {
				s.checks.probe(lvl, r, t, name, nil)
			}
		}
	}
}

// probeCuts puts each level's probes into its WHERE (Plan.Cuts) and
// lists the names probed (Plan.Lacking).
func (p *planner) probeCuts() {
	if p.plan.Refusal != nil {
		return
	}
	var levels []*scope
	for _, x := range p.checks.probes {
		if !slices.Contains(levels, x.level) {
			levels = append(levels, x.level)
		}
	}
	for _, lvl := range levels {
		at, where, ok := p.probePlace(lvl.sel)
		if !ok {
			continue
		}
		var text strings.Builder
		count := 0
		for _, name := range p.probedNames(lvl) {
			tables, items := p.probedTables(lvl, name), p.probedItems(lvl, name)
			text.WriteString(tablesProbe(name, tables))
			count += min(len(tables), 1) + len(items)
			for _, it := range items {
				// One probe an item: a row of at most 1,664 columns.
				fmt.Fprintf(&text, " (SELECT %[1]s FROM (SELECT %[2]s.*, NULL AS %[1]s) AS %[3]s) IS NULL AND", quoteAlways(name), quoteAlways(it), probeAlias)
			}
			if len(tables)+len(items) > 0 {
				p.plan.Lacking = append(p.plan.Lacking, LackedName{Name: name, Items: append(tables, items...)})
			}
		}
		if text.Len() > 0 {
			if where {
				p.countProbes(lvl.sel, count)
			}
			cut := p.pointAt(at)
			cut.Text = text.String()
			if where && at < len(p.sql) && !unicode.IsSpace(rune(p.sql[at])) {
				// WHERE't1' = tag: what the plan puts in the constant's
				// place (a CASE of its check) would join the AND
				// (ANDCASE, red team 39).
				cut.Text += " "
			}
			if !where {
				// After the FROM clause, and after whatever closes
				// there (an operator's check around the ON's last
				// comparison).
				// Spaced from a word after it: 't1'GROUP BY (red team 38b).
				cut.Text, cut.Last = spacedEdit(p.sql, at, at, " WHERE"+strings.TrimSuffix(cut.Text, " AND")), true
			}
			p.plan.Cuts = append(p.plan.Cuts, cut)
		}
	}
}

// probeCount is a WHERE the proxy filters (the statement's own, or an
// IN or EXISTS subquery's, planner_subfilter.go) and where the count of
// probes put first in it goes: the proxy's cut skips that many, no more
// (sort_probe_skip.go).
type probeCount struct {
	sel *pg_query.SelectStmt
	n   *int
}

// countProbes notes that n probes go first in sel's WHERE, for the
// proxy's cut of it.
func (p *planner) countProbes(sel *pg_query.SelectStmt, n int) {
	if sp := p.plan.Sort; sp != nil && sel == p.filtered {
		sp.probes = n
	}
	for _, c := range p.probeCounts {
		if c.sel == sel {
			*c.n = n
		}
	}
}

// tablesProbe is the probe that tables lack name: each named again, as
// the statement names it, beside a row of one column of that name. It
// reads no column of theirs (a role granted only some of their columns
// may run it) and no row (LIMIT 0); ONLY keeps a partitioned table's
// partitions out of its planning.
func tablesProbe(name string, tables []string) string {
	if len(tables) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, " (SELECT %[1]s FROM (SELECT NULL AS %[1]s) AS %[2]s", quoteAlways(name), probeAlias)
	for i, t := range tables {
		fmt.Fprintf(&b, ", ONLY %s AS phiguard_%d", t, i+1)
	}
	b.WriteString(" LIMIT 0) IS NULL AND")
	return b.String()
}

// probedNames are the names probed at lvl, in the order first noted.
func (p *planner) probedNames(lvl *scope) []string {
	var names []string
	for _, x := range p.checks.probes {
		if x.level == lvl && !slices.Contains(names, x.name) {
			names = append(names, x.name)
		}
	}
	return names
}

// probedTables writes the tables of lvl that must lack name, each once,
// as the statement names them, quoted.
func (p *planner) probedTables(lvl *scope, name string) []string {
	var out []string
	for _, x := range p.checks.probes {
		if x.level != lvl || x.name != name || x.item != nil {
			continue
		}
		t := quoteAlways(x.table.Name)
		if x.table.Schema != "" {
			t = quoteAlways(x.table.Schema) + "." + t
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// probedItems names, as the level's WHERE reaches them, the function
// items of lvl that must lack name: the item itself, or the join alias
// or subquery whose * passes its columns; an item no name reaches alone
// is left out.
func (p *planner) probedItems(lvl *scope, name string) []string {
	var out []string
	for _, x := range p.checks.probes {
		if x.level != lvl || x.name != name || x.item == nil {
			continue
		}
		for _, it := range lvl.relations {
			reaches := it == x.item || passesColumns(it, x.item)
			hasName := x.bound != nil && (it == x.bound || passesColumns(it, x.bound))
			if reaches && !hasName && it.name != "" && namesAlone(lvl, it) && !slices.Contains(out, it.name) {
				out = append(out, it.name)
			}
		}
	}
	return out
}

// passesColumns says whether r's columns include inner's through a chain
// of * (a join alias, (SELECT * FROM z) v).
func passesColumns(r, inner *relation) bool {
	for _, from := range r.columns.starFrom {
		if from == inner || passesColumns(from, inner) {
			return true
		}
	}
	return false
}

// probePlace is where sel's probes go: just past its WHERE keyword
// (where), or, without a WHERE, just past its FROM clause, where the
// probes go as a WHERE of their own. False for a SELECT without FROM, and
// before WHERE CURRENT OF.
func (p *planner) probePlace(sel *pg_query.SelectStmt) (at int, where, ok bool) {
	if sel == nil || len(sel.GetFromClause()) == 0 || sel.GetWhereClause().GetCurrentOfExpr() != nil {
		return 0, false, false
	}
	toks := p.tokens() // planner_fold.go: scanned once per plan
	if w := sel.GetWhereClause(); w != nil {
		i := keywordBefore(toks, leftmost(w), pg_query.Token_WHERE)
		if i < 0 {
			return 0, false, false
		}
		return int(toks[i].GetEnd()), true, true
	}
	i := fromKeyword(toks, sel) // scope_probe_from.go
	if i < 0 {
		return 0, false, false
	}
	end, ok := fromClauseEnd(toks, i)
	return end, false, ok
}

// leftmost is the first place in the text of n's subtree, -1 when none
// of its nodes has one.
func leftmost(n *pg_query.Node) int32 { return firstLocation(n.ProtoReflect(), true) }

// keywordBefore is the index of the token before the one at first, past
// any opening parentheses and comments, when it is kw; -1 otherwise.
func keywordBefore(toks []*pg_query.ScanToken, first int32, kw pg_query.Token) int {
	if first < 0 {
		return -1
	}
	i := slices.IndexFunc(toks, func(t *pg_query.ScanToken) bool { return t.GetStart() >= first })
	if i < 0 {
		i = len(toks)
	}
	for i--; i >= 0 && skippedBeforeClause(toks[i].GetToken()); i-- {
	}
	if i < 0 || toks[i].GetToken() != kw {
		return -1
	}
	return i
}

// fromClauseEnd is the end of the last token of the FROM clause whose
// keyword is toks[from]: the token before the first, outside
// parentheses, that no FROM clause holds (GROUP BY, HAVING, WINDOW,
// ORDER BY, LIMIT, OFFSET, FETCH, FOR UPDATE, a set operation, the
// closing parenthesis of the subquery, the statement's end). A keyword
// after a dot is a column label (b.limit), and the FOR of COLLATION FOR
// an expression's: they end nothing (keeps).
func fromClauseEnd(toks []*pg_query.ScanToken, from int) (int, bool) {
	depth := 0
	for i := from + 1; i < len(toks); i++ {
		switch toks[i].GetToken() {
		case pg_query.Token_ASCII_40: // (
			depth++
			continue
		case pg_query.Token_ASCII_41: // )
			depth--
			if depth >= 0 {
				continue
			}
		case pg_query.Token_GROUP_P, pg_query.Token_HAVING, pg_query.Token_WINDOW, pg_query.Token_ORDER,
			pg_query.Token_LIMIT, pg_query.Token_OFFSET, pg_query.Token_FETCH, pg_query.Token_FOR,
			pg_query.Token_UNION, pg_query.Token_INTERSECT, pg_query.Token_EXCEPT, pg_query.Token_ASCII_59: // ;
			// After a dot, a reserved word is a column label (a.limit
			// in an ON; red team 38b), not a clause.
			if depth > 0 || keeps(toks, i) {
				continue
			}
		default:
			continue
		}
		return prevEnd(toks, i, from), true
	}
	return prevEnd(toks, len(toks), from), true
}

// keeps says whether toks[i], a keyword that may start a clause, is
// part of an expression by the token before it (past comments): a
// column label after a dot (b.limit), or the FOR of COLLATION FOR (x)
// (red team 38b).
func keeps(toks []*pg_query.ScanToken, i int) bool {
	j := prevReal(toks, i, -1)
	if j < 0 {
		return false
	}
	k := toks[j].GetToken()
	return k == pg_query.Token_ASCII_46 || k == pg_query.Token_COLLATION && toks[i].GetToken() == pg_query.Token_FOR
}

// prevEnd is the end of the last token before i that is not a comment
// (after from; from's own end when there is none).
func prevEnd(toks []*pg_query.ScanToken, i, from int) int {
	if j := prevReal(toks, i, from); j > from {
		return int(toks[j].GetEnd())
	}
	return int(toks[from].GetEnd())
}

// prevReal is the index of the last token before i that is not a comment
// (isComment, column_guard.go), above floor; -1 when there is none.
func prevReal(toks []*pg_query.ScanToken, i, floor int) int {
	for i--; i > floor; i-- {
		if !isComment(toks[i]) {
			return i
		}
	}
	return -1
}

// skippedBeforeClause says whether tok may stand between WHERE (or FROM)
// and its clause's first node: a parenthesis, or a comment (WHERE /* c */
// tag = 't1' had no probe: red team 38).
func skippedBeforeClause(tok pg_query.Token) bool {
	return tok == pg_query.Token_ASCII_40 || tok == pg_query.Token_C_COMMENT || tok == pg_query.Token_SQL_COMMENT // (
}

// quoteAlways writes name as a quoted identifier, which no keyword or
// case folding changes.
func quoteAlways(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// LackedNameRefusal recognises the database's error for a probe a plan
// sent (Plan.Lacking) whose item has gained the name: 42702, naming the
// column (its words are left alone, which lc_messages may translate).
func LackedNameRefusal(lacking []LackedName, code, message string) (*Refusal, bool) {
	if len(lacking) == 0 || code != string(pgerr.AmbiguousColumn) {
		return nil, false
	}
	for _, l := range lacking {
		if containsWord(message, l.Name) {
			return &Refusal{Code: pgerr.FeatureNotSupported, Table: l.Items[0], Message: fmt.Sprintf(
				"column name %s: phiguard's catalog said %s had no column %s and bound the name further out, but the database finds one there (DDL or a function phiguard did not see changed the catalog): nothing ran; phiguard reads the catalog again; run the statement again, or qualify the name",
				l.Name, strings.Join(l.Items, ", "), l.Name)}, true
		}
	}
	return nil, false
}

// containsWord says whether name stands in message as a word of its own:
// not inside a longer identifier (an ambiguous tag_id is not tag's).
func containsWord(message, name string) bool {
	for i := 0; name != ""; {
		j := strings.Index(message[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		before, _ := utf8.DecodeLastRuneInString(message[:start])
		after, _ := utf8.DecodeRuneInString(message[end:])
		if !identRune(before) && !identRune(after) {
			return true
		}
		i = start + 1
	}
	return false
}

// identRune says whether r can be part of an identifier (utf8.RuneError
// stands for none: the message's start or end).
func identRune(r rune) bool {
	return r == '_' || r == '$' || r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}
