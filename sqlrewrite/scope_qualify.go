package sqlrewrite

import (
	"fmt"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A plan made knowing the catalog (PlanKnowing) binds an unqualified
// name to an inner table's plain column where the plan without it took
// an outer level's encrypted column: in SELECT ... FROM people WHERE
// EXISTS (SELECT 1 FROM x WHERE tag = 't1'), tag is x.tag when x has a
// tag, and 't1' is sent as it is. The catalog that said so may be stale
// when the statement runs: a function PostgreSQL runs may make a
// temporary x or set search_path, DDL may reach the database without
// passing phiguard. PostgreSQL would then bind tag to people.tag and
// compare its ciphertexts with 't1' in clear (red team 36b, hole 7).
//
// So the name is sent qualified with the inner item's name, x.tag:
// PostgreSQL binds it to that item or fails the statement ("column x.tag
// does not exist"); it never reaches further out. The guard turns that
// error into a refusal and reads the catalog again
// (QualifiedNameRefusal). The item is the one PostgreSQL binds the name
// to (the table, or a subquery, WITH query or join alias whose columns
// pass its own), and only where the catalog is sure of it (innerTable).
// A name no qualifier can name alone (two items of one name, an inner
// item of that name, a bare ORDER BY or GROUP BY name that may be an
// output column's) is refused as without the catalog.

// QualifiedName is an unqualified name a plan sends qualified: Column,
// bound to the column of inner table Table, becomes Qualifier.Column.
type QualifiedName struct {
	Qualifier string
	Column    string
	Table     TableName
	loc       int32
}

// qualifyName records that the unqualified name at loc, which the
// catalog binds to a column of inner table t, item r, is sent qualified;
// false when no qualifier names r alone from s.
func (s *scope) qualifyName(r *relation, t TableName, name string, loc int32) bool {
	c := s.checks
	if c == nil || loc < 0 || r.name == "" || !namesAlone(s, r) {
		return false
	}
	switch c.sortNames[loc] {
	case sortOrderName:
		// PostgreSQL takes a bare ORDER BY or DISTINCT ON name for an
		// output column's name first, and for a column only when no
		// output column of the level has that name
		// (findTargetlistEntrySQL92): then qualified it is the same.
		if !c.noOutputNamed(s, name) {
			return false
		}
	case sortGroupName:
		// PostgreSQL takes a bare GROUP BY name for a column of the
		// level's own FROM before an output column's name, and for an
		// output column's before an enclosing level's column
		// (findTargetlistEntrySQL92): qualified, it is the same column
		// only when r is of the GROUP BY's own level.
		if !slices.Contains(s.relations, r) {
			return false
		}
	}
	for _, q := range c.qualified {
		if q.loc == loc {
			return q.Qualifier == r.name
		}
	}
	c.qualified = append(c.qualified, QualifiedName{Qualifier: r.name, Column: name, Table: t, loc: loc})
	return true
}

// innerTable finds, knowing the catalog, the item of an inner level
// that PostgreSQL binds the unqualified name to where the plan without
// the catalog took found, an encrypted column further out: that of the
// innermost level, from s, with an item that has the name
// (colNameToVar). It answers only when that is certain: every item of
// the levels before is sure to lack the name, and so is every other item
// of that level (a second table with it is PostgreSQL's "ambiguous", or
// a JOIN's merged column, neither table's; an item phiguard cannot see
// into, or a table the catalog is unsure of, may have it). The item is
// the table, or a subquery or WITH query whose * passes its columns
// ((SELECT * FROM x) v: v.tag). Before, the first table of any inner
// level the catalog was sure of was taken, and the name sent qualified
// with its item, found anywhere out from s: an item further out than the
// one PostgreSQL binds to, or none (red team 37).
//
// decided is false where the name is left to the plan without the
// catalog (no inner item has it; or a level's items may, none surely
// does); r is nil where the name is refused. The tables that must lack
// the name are noted (Plan.Unshadowed), so that the plan is served
// again, and sent, only while they do.
func (s *scope) innerTable(name string, found *policy.ProtectedColumn) (r *relation, t TableName, decided bool) {
	c := s.checks
	if c == nil || c.facts == nil {
		return nil, TableName{}, false
	}
	var lack []TableName
	var lackAt []lackProbe // where each probe goes (scope_probe.go)
	for lvl := s; lvl != nil; lvl = lvl.parent {
		var hit *relation
		var hitTable TableName
		n, unsure := 0, false
		for _, r := range lvl.relations {
			yes, unless, opaque := r.hasColumn(name)
			if yes {
				return nil, TableName{}, false // found's level: no inner table has the name
			}
			unsure = unsure || opaque
			for _, t := range unless {
				switch has, sure := c.facts.TableHasColumn(t, name); {
				case !sure:
					unsure = true
				case has:
					n, hit, hitTable = n+1, r, t
				default:
					lack = append(lack, t)
					lackAt = append(lackAt, lackProbe{level: lvl, item: r, table: t, name: name})
				}
			}
		}
		if n == 0 {
			if unsure {
				// Left to the plan without the catalog's word: the
				// outer column, with the tables that must lack the
				// name noted for the guard (Plan.Unshadowed).
				return nil, TableName{}, false
			}
			continue
		}
		if n != 1 || unsure || hit.name == "" {
			return nil, TableName{}, true // refused
		}
		c.mustLack(name, lack, found)
		for _, x := range lackAt {
			c.probe(x.level, x.item, x.table, name, hit)
		}
		if x := (Unshadowed{Name: name, Inner: hitTable, Column: found}); !slices.Contains(c.shadowed, x) {
			c.shadowed = append(c.shadowed, x)
		}
		return hit, hitTable, true
	}
	return nil, TableName{}, false
}

// noOutputNamed says whether every output column of s's SELECT has a
// name phiguard works out, and none is name.
func (c *catalogChecks) noOutputNamed(s *scope, name string) bool {
	sel := s.level().sel
	if sel == nil {
		return false
	}
	outs, ok := c.outputs[sel]
	return ok && outs.complete && !outs.unnamed && !outs.names[name]
}

// namesAlone says whether r's name, as a qualifier written at s, names
// r: the innermost level with an item of that name has r and no other
// (two would be PostgreSQL's "table reference is ambiguous").
func namesAlone(s *scope, r *relation) bool {
	for lvl := s; lvl != nil; lvl = lvl.parent {
		n, mine := 0, false
		for _, it := range lvl.relations {
			if it.name == r.name {
				n, mine = n+1, mine || it == r
			}
		}
		if n > 0 {
			return n == 1 && mine
		}
	}
	return false
}

// qualifierCuts turns the plan's qualified names into insertions before
// each name; after a word glued to the name (WHERE"tag"), with a space,
// or the qualifier would join the word (WHEREx."tag": a syntax error,
// red team 38).
func (p *planner) qualifierCuts() {
	for _, q := range p.checks.qualified {
		cut := p.pointAt(int(q.loc))
		cut.Text = quoteQualifier(q.Qualifier) + "."
		if at := int(q.loc); at > 0 && at <= len(p.sql) && identByte(p.sql[at-1]) {
			cut.Text = " " + cut.Text
		}
		p.plan.Cuts = append(p.plan.Cuts, cut)
		p.plan.Qualified = append(p.plan.Qualified, q)
	}
}

// usingAlias is the item JOIN ... USING (c) AS u names (without an
// alias of the join's own), or nil: its columns are the USING list's
// (never encrypted ones: joinItem refuses those), which only a qualified
// name reaches, so it binds no bare name; but u.tag is u's, not an
// enclosing level's tag (red team 37: FROM people p ... (a JOIN b USING
// (tag) AS p WHERE p.tag = 't1') encrypted 't1' for people.tag where
// PostgreSQL compared the merged plain column, 0 rows for 60), and a
// name bound further out is not qualified with a name u hides.
func usingAlias(j *pg_query.JoinExpr) *relation {
	if ua := j.GetJoinUsingAlias(); ua != nil && j.GetAlias() == nil {
		return &relation{name: ua.GetAliasname(), columns: relationColumns{complete: true}}
	}
	return nil
}

// quoteQualifier writes name as an identifier before a dot: quoted
// where policy.QuoteIdentifier would leave it bare but PostgreSQL reads
// it as a keyword (FROM x AS "user": user.tag is a syntax error; red
// team 37).
func quoteQualifier(name string) string {
	q := policy.QuoteIdentifier(name)
	if q != name {
		return q
	}
	if res, err := pg_query.Scan(name); err != nil || len(res.GetTokens()) != 1 ||
		res.GetTokens()[0].GetKeywordKind() != pg_query.KeywordKind_NO_KEYWORD {
		return `"` + name + `"`
	}
	return name
}

// sortName is what a bare name in an ORDER BY, GROUP BY or DISTINCT ON
// item may be besides a column: an output column's name.
type sortName uint8

const (
	notSortName   sortName = iota
	sortOrderName          // ORDER BY, DISTINCT ON: an output column's name first
	sortGroupName          // GROUP BY: the level's own FROM columns first
)

// bareSortNames are the places of the bare names in stmt's ORDER BY,
// GROUP BY and DISTINCT ON items: PostgreSQL may take such a name for
// an output column, which a qualifier would change.
func bareSortNames(stmt *pg_query.Node) map[int32]sortName {
	out := map[int32]sortName{}
	var bare func(n *pg_query.Node, kind sortName)
	bare = func(n *pg_query.Node, kind sortName) {
		if ref := n.GetColumnRef(); ref != nil && len(ref.GetFields()) == 1 {
			out[ref.GetLocation()] = kind
		}
		// A GROUP BY list in parentheses, (a, b), is a, b
		// (flatten_grouping_sets; red team 38b), not a row.
		if row := n.GetRowExpr(); row != nil && kind == sortGroupName && row.GetRowFormat() == pg_query.CoercionForm_COERCE_IMPLICIT_CAST {
			for _, a := range row.GetArgs() {
				bare(a, kind)
			}
		}
	}
	walk(stmt.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.SortBy:
			bare(n.GetNode(), sortOrderName)
		case *pg_query.SelectStmt:
			for _, g := range groupingItems(n.GetGroupClause()) {
				bare(g, sortGroupName)
			}
			for _, d := range n.GetDistinctClause() {
				bare(d, sortOrderName)
			}
		}
	})
	return out
}

// QualifiedNameRefusal recognises the database's error for a name a
// plan sent qualified (Plan.Qualified) whose table no longer has the
// column, and returns the refusal the client gets instead: the catalog
// the plan was made with is stale. The error is 42703 (undefined
// column) naming q.col; its words are left alone, which lc_messages may
// translate.
func QualifiedNameRefusal(qualified []QualifiedName, code, message string) (*Refusal, bool) {
	if len(qualified) == 0 || code != string(pgerr.UndefinedColumn) {
		return nil, false
	}
	for _, q := range qualified {
		if containsWord(message, q.Qualifier+"."+q.Column) { // scope_probe.go
			return &Refusal{Code: pgerr.FeatureNotSupported, Table: q.Table.String(), Message: fmt.Sprintf(
				"column name %s: phiguard's catalog said table %s has a column %s and sent the name as %s.%s, which the database no longer finds (DDL or a function phiguard did not see changed the catalog): phiguard reads the catalog again; run the statement again, or qualify the name",
				q.Column, q.Table, q.Column, q.Qualifier, q.Column)}, true
		}
	}
	return nil, false
}
