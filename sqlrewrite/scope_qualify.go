package sqlrewrite

import (
	"fmt"
	"regexp"
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
// (QualifiedNameRefusal). The qualifier is the item whose column the
// name is: the table, or a subquery or join alias over it with a *. A
// name no qualifier names alone (two items of one name, another item
// or inner table that may have the name too, a bare ORDER BY or GROUP
// BY name that may be an output column's) is refused as without the
// catalog.

// QualifiedName is an unqualified name a plan sends qualified: Column,
// bound to the column of inner table Table, becomes Qualifier.Column.
type QualifiedName struct {
	Qualifier string
	Column    string
	Table     TableName
	loc       int32
}

// qualifyName records that the unqualified name at loc, which the
// catalog binds to a column of inner table t, is sent qualified; false
// when no qualifier names t's item alone from s.
func (s *scope) qualifyName(t TableName, name string, loc int32) bool {
	c := s.checks
	if c == nil || loc < 0 || c.sortNames[loc] {
		return false
	}
	r := s.tableItem(t, name)
	if r == nil || !namesAlone(s, r) || !c.onlyOneHas(s, r, name) {
		return false
	}
	for _, q := range c.qualified {
		if q.loc == loc {
			return q.Qualifier == r.name
		}
	}
	c.qualified = append(c.qualified, QualifiedName{Qualifier: r.name, Column: name, Table: t, loc: loc})
	return true
}

// tableItem finds the FROM item, at s's level or an enclosing one,
// whose column called name is table t's, if it has one: the table
// itself, a subquery or join alias whose columns are a * over it (then
// its other tables must lack the name: two would be PostgreSQL's
// "ambiguous").
func (s *scope) tableItem(t TableName, name string) *relation {
	for lvl := s; lvl != nil; lvl = lvl.parent {
		for _, r := range lvl.relations {
			yes, unless, opaque := r.hasColumn(name)
			if yes || opaque || r.name == "" || !slices.Contains(unless, t) {
				continue
			}
			for _, u := range unless {
				if u != t && s.checks.tableMayHave(u, name) {
					return nil
				}
			}
			return r
		}
	}
	return nil
}

// onlyOneHas says whether r is the only item, at its level and the
// levels inside it up to s, that the catalog or the statement says may
// have a column called name. Another item at r's level that has it
// makes the name PostgreSQL's "ambiguous" (a JOIN ... USING of two
// tables with it), which a qualifier would answer; an inner one that
// may have it (a table the catalog is not sure of) would take the name
// before r does.
func (c *catalogChecks) onlyOneHas(s *scope, r *relation, name string) bool {
	for lvl := s; lvl != nil; lvl = lvl.parent {
		mine := false
		for _, it := range lvl.relations {
			if it == r {
				mine = true
			} else if c.mayHave(it, name) {
				return false
			}
		}
		if mine {
			return true
		}
	}
	return false
}

// mayHave says whether item it may have a column called name: the
// statement says so or cannot tell, or the catalog is not sure that
// every table behind it lacks one.
func (c *catalogChecks) mayHave(it *relation, name string) bool {
	yes, unless, opaque := it.hasColumn(name)
	if yes || opaque {
		return true
	}
	return slices.ContainsFunc(unless, func(t TableName) bool { return c.tableMayHave(t, name) })
}

// tableMayHave says whether the catalog is not sure that t lacks name.
func (c *catalogChecks) tableMayHave(t TableName, name string) bool {
	has, sure := c.facts.TableHasColumn(t, name)
	return has || !sure
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
// each name.
func (p *planner) qualifierCuts() {
	for _, q := range p.checks.qualified {
		cut := p.pointAt(int(q.loc))
		cut.Text = policy.QuoteIdentifier(q.Qualifier) + "."
		p.plan.Cuts = append(p.plan.Cuts, cut)
		p.plan.Qualified = append(p.plan.Qualified, q)
	}
}

// bareSortNames are the places of the bare names in stmt's ORDER BY,
// GROUP BY and DISTINCT ON items: PostgreSQL may take such a name for
// an output column, which a qualifier would change.
func bareSortNames(stmt *pg_query.Node) map[int32]bool {
	out := map[int32]bool{}
	bare := func(n *pg_query.Node) {
		if ref := n.GetColumnRef(); ref != nil && len(ref.GetFields()) == 1 {
			out[ref.GetLocation()] = true
		}
	}
	walk(stmt.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.SortBy:
			bare(n.GetNode())
		case *pg_query.SelectStmt:
			for _, g := range append(groupingItems(n.GetGroupClause()), n.GetDistinctClause()...) {
				bare(g)
			}
		}
	})
	return out
}

// qualifiedMissing is PostgreSQL's error for a qualified name whose
// item has no such column (errorMissingColumn).
var qualifiedMissing = regexp.MustCompile(`^column (.+)\.(.+) does not exist$`)

// QualifiedNameRefusal recognises the database's error for a name a
// plan sent qualified (Plan.Qualified) whose table no longer has the
// column, and returns
// the refusal the client gets instead: the catalog the plan was made
// with is stale.
func QualifiedNameRefusal(qualified []QualifiedName, message string) (*Refusal, bool) {
	if len(qualified) == 0 {
		return nil, false
	}
	m := qualifiedMissing.FindStringSubmatch(message)
	if m == nil {
		return nil, false
	}
	for _, q := range qualified {
		if m[1] == q.Qualifier && m[2] == q.Column {
			return &Refusal{Code: pgerr.FeatureNotSupported, Table: q.Table.String(), Message: fmt.Sprintf(
				"column name %s: phiguard's catalog said table %s has a column %s and sent the name as %s.%s, which the database no longer finds (DDL or a function phiguard did not see changed the catalog): phiguard reads the catalog again; run the statement again, or qualify the name",
				q.Column, q.Table, q.Column, q.Qualifier, q.Column)}, true
		}
	}
	return nil, false
}
