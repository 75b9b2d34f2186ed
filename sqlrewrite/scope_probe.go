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
// A level without a WHERE, a subquery whose WHERE phiguard filters in the
// proxy (planner_subfilter.go), or an item no name reaches alone from the
// WHERE gets no probe: for those the guard's catalog check is all.

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
		at, ok := p.afterWhere(lvl.where)
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

// afterWhere is the place just past the WHERE keyword of the clause
// where (parentheses and comments may come between); false without one,
// or before WHERE CURRENT OF.
func (p *planner) afterWhere(where *pg_query.Node) (int, bool) {
	if where == nil || where.GetCurrentOfExpr() != nil {
		return 0, false
	}
	first := -1
	walk(where.ProtoReflect(), func(m protoreflect.Message) {
		fd := m.Descriptor().Fields().ByName("location")
		if fd == nil || fd.Kind() != protoreflect.Int32Kind {
			return
		}
		if loc := int(m.Get(fd).Int()); loc >= 0 && (first < 0 || loc < first) {
			first = loc
		}
	})
	if first < 0 {
		return 0, false
	}
	res, err := pg_query.Scan(p.sql)
	if err != nil {
		return 0, false
	}
	toks := res.GetTokens()
	i := slices.IndexFunc(toks, func(t *pg_query.ScanToken) bool { return int(t.GetStart()) >= first })
	if i < 0 {
		i = len(toks)
	}
	for i--; i >= 0 && skippedBeforeWhere(toks[i].GetToken()); i-- {
	}
	if i < 0 || toks[i].GetToken() != pg_query.Token_WHERE {
		return 0, false
	}
	return int(toks[i].GetEnd()), true
}

// skippedBeforeWhere says whether tok may stand between WHERE and its
// clause's first node: a parenthesis, or a comment (WHERE /* c */ tag =
// 't1' had no probe: red team 38).
func skippedBeforeWhere(tok pg_query.Token) bool {
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
		if strings.Contains(message, l.Name) {
			return &Refusal{Code: pgerr.FeatureNotSupported, Table: l.Items[0], Message: fmt.Sprintf(
				"column name %s: phiguard's catalog said %s had no column %s and bound the name further out, but the database finds one there (DDL or a function phiguard did not see changed the catalog): nothing ran; phiguard reads the catalog again; run the statement again, or qualify the name",
				l.Name, strings.Join(l.Items, ", "), l.Name)}, true
		}
	}
	return nil, false
}
