package sqlrewrite

import (
	"fmt"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"google.golang.org/protobuf/reflect/protoreflect"
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
// such an item, phiguard puts a probe, one per name:
//
//	WHERE (SELECT "tag" FROM (SELECT "z".*, NULL AS "tag") AS phiguard_lacks) IS NULL AND ...
//
// PostgreSQL resolves names as it parses the statement, from the catalog
// as it is then (its caches, not the transaction's snapshot). If z has a
// column tag, the derived table has two and the probe's "tag" is
// ambiguous (42702): the statement fails before it runs, and the guard
// turns the error into a refusal and reads its catalog again
// (LackedNameRefusal). If z lacks it, the probe reads its own NULL and is
// true; PostgreSQL plans it as a one-time filter (no change to the
// query's plan; about 20 µs more planning). TRUE AND w is w, and AND
// binds tighter than OR, so the WHERE keeps its meaning.
//
// A level without a WHERE gets one, holding its probes, after its FROM
// clause. A subquery whose WHERE phiguard filters in the proxy
// (planner_subfilter.go), or an item no name reaches alone from the
// WHERE, gets no probe: for those the guard's catalog check is all.

// lackProbe is one item that must lack a name, at the level whose WHERE
// holds its probe.
type lackProbe struct {
	level *scope
	item  *relation
	name  string
	// bound is the item the catalog binds the name to (innerTable),
	// nil for an outer encrypted column: an item of its level whose
	// columns pass bound's (a join alias over both) has the name, and
	// is not probed.
	bound *relation
}

// LackedName is a name a plan's text checks that inner items lack
// (Plan.Lacking): Items are those items as the probe names them.
type LackedName struct {
	Name  string
	Items []string
}

// probe notes that item, at level, must lack name for it to bind to
// bound (nil: an outer level's encrypted column).
func (c *catalogChecks) probe(level *scope, item *relation, name string, bound *relation) {
	if c == nil || level == nil {
		return
	}
	x := lackProbe{level: level.level(), item: item, name: name, bound: bound}
	if !slices.Contains(c.probes, x) {
		c.probes = append(c.probes, x)
	}
}

// probeInner notes a probe for every item, from s out to the level of
// the binding's items, that lacks name unless a table of its has it.
func (s *scope) probeInner(name string, bound []*relation) {
	for lvl := s; lvl != nil; lvl = lvl.parent {
		for _, r := range lvl.relations {
			if slices.Contains(bound, r) {
				return
			}
		}
		for _, r := range lvl.relations {
			if _, unless, _ := r.hasColumn(name); len(unless) > 0 {
				s.checks.probe(lvl, r, name, nil)
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
		for _, name := range p.probedNames(lvl) {
			items := p.probedItems(lvl, name)
			if len(items) == 0 {
				continue
			}
			fmt.Fprintf(&text, " (SELECT %s FROM (SELECT ", quoteAlways(name))
			for _, it := range items {
				text.WriteString(quoteAlways(it) + ".*, ")
			}
			fmt.Fprintf(&text, "NULL AS %s) AS phiguard_lacks) IS NULL AND", quoteAlways(name))
			p.plan.Lacking = append(p.plan.Lacking, LackedName{Name: name, Items: items})
		}
		if text.Len() > 0 {
			cut := p.pointAt(at)
			cut.Text = text.String()
			if !where {
				// After the FROM clause, and after whatever closes
				// there (an operator's check around the ON's last
				// comparison).
				cut.Text, cut.Last = " WHERE"+strings.TrimSuffix(cut.Text, " AND"), true
				if at < len(p.sql) && identByte(p.sql[at]) {
					cut.Text += " " // 't1'GROUP BY (red team 38b)
				}
			}
			p.plan.Cuts = append(p.plan.Cuts, cut)
		}
	}
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

// probedItems names, as the level's WHERE reaches them, the items of lvl
// that must lack name: the item itself, or the join alias or subquery
// whose * passes its columns; an item no name reaches alone is left out.
func (p *planner) probedItems(lvl *scope, name string) []string {
	var out []string
	for _, x := range p.checks.probes {
		if x.level != lvl || x.name != name {
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
	res, err := pg_query.Scan(p.sql)
	if err != nil {
		return 0, false, false
	}
	toks := res.GetTokens()
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
func leftmost(n *pg_query.Node) int32 {
	var first int32 = -1
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		fd := m.Descriptor().Fields().ByName("location")
		if fd == nil || fd.Kind() != protoreflect.Int32Kind {
			return
		}
		if loc := int32(m.Get(fd).Int()); loc >= 0 && (first < 0 || loc < first) {
			first = loc
		}
	})
	return first
}

// keywordBefore is the index of the token before the one at first, past
// any opening parentheses, when it is kw; -1 otherwise.
func keywordBefore(toks []*pg_query.ScanToken, first int32, kw pg_query.Token) int {
	if first < 0 {
		return -1
	}
	i := slices.IndexFunc(toks, func(t *pg_query.ScanToken) bool { return t.GetStart() >= first })
	if i < 0 {
		i = len(toks)
	}
	for i--; i >= 0 && toks[i].GetToken() == pg_query.Token_ASCII_40; i-- { // (
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
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			continue
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
	for j := i - 1; j >= 0; j-- {
		if k := toks[j].GetToken(); k != pg_query.Token_SQL_COMMENT && k != pg_query.Token_C_COMMENT {
			return k == pg_query.Token_ASCII_46 || k == pg_query.Token_COLLATION && toks[i].GetToken() == pg_query.Token_FOR
		}
	}
	return false
}

// prevEnd is the end of the last token before i that is not a comment
// (after from).
func prevEnd(toks []*pg_query.ScanToken, i, from int) int {
	for i--; i > from; i-- {
		if k := toks[i].GetToken(); k != pg_query.Token_SQL_COMMENT && k != pg_query.Token_C_COMMENT {
			break
		}
	}
	return int(toks[i].GetEnd())
}

// identByte says whether b may go on a keyword or name, which text
// written before it must not run into.
func identByte(b byte) bool {
	return b == '_' || b == '$' || b == '"' || b >= 0x80 || b >= '0' && b <= '9' || b|0x20 >= 'a' && b|0x20 <= 'z'
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
		if strings.Contains(message, l.Name) {
			return &Refusal{Code: pgerr.FeatureNotSupported, Table: l.Items[0], Message: fmt.Sprintf(
				"column name %s: phiguard's catalog said %s had no column %s and bound the name further out, but the database finds one there (DDL or a function phiguard did not see changed the catalog): nothing ran; phiguard reads the catalog again; run the statement again, or qualify the name",
				l.Name, strings.Join(l.Items, ", "), l.Name)}, true
		}
	}
	return nil, false
}
