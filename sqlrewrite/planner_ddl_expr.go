package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DDL that has the database evaluate an expression over a protected
// column's cells — a CHECK constraint, a generated column, an index
// expression or predicate, an EXCLUDE constraint, a row security
// policy — or
// compare its cells for uniqueness or a reference where the cells of
// equal values differ (a randomized column) answers otherwise than on
// the plaintext table: CHECK (name <> 'x') passes the cell of 'x',
// CHECK (length(ssn) = 11) fails every cell, upper(name) is computed
// from ciphertext, UNIQUE (name) takes two equal names. Its constants
// would also be stored in clear in the catalog (a search constant the
// database must not see). So it is refused, naming the column.

// constraint refuses a table or column constraint of t (nil: not a
// protected table) that reads a protected column, or references one;
// column is the column a column constraint is written on ("" for a
// table constraint).
func (p *planner) constraint(t *policy.ProtectedTable, c *pg_query.Constraint, column string) {
	if c == nil {
		return
	}
	keys := func(nodes []*pg_query.Node) []string {
		if column != "" {
			return []string{column}
		}
		return names(nodes)
	}
	switch c.GetContype() {
	case pg_query.ConstrType_CONSTR_CHECK:
		p.refuseExprOver(t, c.GetRawExpr(), "a CHECK constraint")
	case pg_query.ConstrType_CONSTR_GENERATED:
		p.refuseExprOver(t, c.GetRawExpr(), "a generated column computed from an encrypted column")
	case pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_PRIMARY:
		p.refuseRandomized(t, keys(c.GetKeys()), "UNIQUE or PRIMARY KEY on a randomized column")
	case pg_query.ConstrType_CONSTR_FOREIGN:
		p.refuseRandomized(t, keys(c.GetFkAttrs()), "FOREIGN KEY on a randomized column")
		ref := p.table(c.GetPktable().GetSchemaname(), c.GetPktable().GetRelname())
		p.refuseRandomized(ref, names(c.GetPkAttrs()), "FOREIGN KEY referencing a randomized column")
		p.foreignKeyCells(t, ref, keys(c.GetFkAttrs()), names(c.GetPkAttrs()))
	case pg_query.ConstrType_CONSTR_EXCLUSION:
		for _, e := range c.GetExclusions() {
			p.refuseExprOver(t, e, "an EXCLUDE constraint")
		}
		p.refuseExprOver(t, c.GetWhereClause(), "an EXCLUDE constraint")
	}
}

// index refuses CREATE INDEX on a protected table whose expressions or
// predicate read a protected column, or that is UNIQUE over a
// randomized one. An index on a column itself, not unique, reads cells
// the way an equality on them does, and runs.
func (p *planner) index(n *pg_query.IndexStmt) {
	t := p.table(n.GetRelation().GetSchemaname(), n.GetRelation().GetRelname())
	if t == nil {
		return
	}
	for _, e := range n.GetIndexParams() {
		el := e.GetIndexElem()
		p.refuseExprOver(t, el.GetExpr(), "an index expression")
		if n.GetUnique() && el.GetName() != "" {
			p.refuseRandomized(t, []string{el.GetName()}, "a UNIQUE index on a randomized column")
		}
	}
	p.refuseExprOver(t, n.GetWhereClause(), "an index predicate (WHERE)")
}

// refuseExprOver refuses construct when expr names a protected column of
// t (by the last name of a column reference: t.c and c alike).
func (p *planner) refuseExprOver(t *policy.ProtectedTable, expr *pg_query.Node, construct string) {
	if t == nil || expr == nil {
		return
	}
	walk(expr.ProtoReflect(), func(m protoreflect.Message) {
		var name string
		switch n := m.Interface().(type) {
		case *pg_query.ColumnRef:
			if f := n.GetFields(); len(f) > 0 {
				name = f[len(f)-1].GetString_().GetSval()
				if wholeRow(t, f) && len(t.Columns) > 0 {
					p.refuse(t.Columns[0], construct+" over a whole row of the table")
				}
			}
		case *pg_query.IndexElem: // an EXCLUDE element
			name = n.GetName()
		}
		if col := protectedIn(t, name); name != "" && col != nil {
			p.refuse(col, construct)
		}
	})
}

// refuseRandomized refuses construct when one of columns is a randomized
// protected column of t.
func (p *planner) refuseRandomized(t *policy.ProtectedTable, columns []string, construct string) {
	for _, name := range columns {
		if col := protectedIn(t, name); col != nil && col.Mode == policy.ModeRandomized {
			p.refuse(col, construct)
		}
	}
}

// names are the strings of a list of String nodes (a constraint's keys).
func names(nodes []*pg_query.Node) []string {
	var out []string
	for _, k := range nodes {
		out = append(out, k.GetString_().GetSval())
	}
	return out
}

// statsAndPublications refuses extended statistics on an expression over
// a protected column and a publication's row filter reading one: the
// database evaluates them on the cells, and their constants
// (CREATE STATISTICS s ON (name = 'John Smith') FROM t, CREATE
// PUBLICATION p FOR TABLE t WHERE (name = '...')) are stored in clear in
// the catalog (red team 11).
func (p *planner) statsAndPublications(n *pg_query.Node) {
	if c := n.GetCreateStatsStmt(); c != nil && len(c.GetRelations()) == 1 {
		rv := c.GetRelations()[0].GetRangeVar()
		t := p.table(rv.GetSchemaname(), rv.GetRelname())
		for _, e := range c.GetExprs() {
			p.refuseExprOver(t, e.GetStatsElem().GetExpr(), "extended statistics on an expression")
		}
	}
	objs := n.GetCreatePublicationStmt().GetPubobjects()
	if a := n.GetAlterPublicationStmt(); a != nil {
		objs = a.GetPubobjects()
	}
	for _, o := range objs {
		pt := o.GetPublicationObjSpec().GetPubtable()
		if rv := pt.GetRelation(); rv != nil {
			p.refuseExprOver(p.table(rv.GetSchemaname(), rv.GetRelname()), pt.GetWhereClause(), "a publication's row filter (WHERE)")
		}
	}
}

// wholeRow: a column reference of fields is t's whole row (t, t.*, or
// *), which PostgreSQL reads with its cells (or a plain column named
// like its table, refused with it): CHECK
// (octet_length(t::text) > 100) passed the ciphertext where the
// plaintext database refuses the row (TestRedTeam33bDDLOverCells).
func wholeRow(t *policy.ProtectedTable, fields []*pg_query.Node) bool {
	last := fields[len(fields)-1]
	if last.GetAStar() != nil {
		return true
	}
	name := last.GetString_().GetSval()
	return len(fields) == 1 && name == t.Name.Name
}

// foreignKeyCells refuses a FOREIGN KEY of t's columns fk referencing
// ref's columns pk (none: ref's primary key) that pairs an encrypted
// column with one not encrypted under the same deterministic key: the
// database compares the cell with the other value, and refused with 23503
// a row the plaintext database takes (a deterministic column referencing
// a plain one, TestRedTeam33bDDLOverCells).
func (p *planner) foreignKeyCells(t, ref *policy.ProtectedTable, fk, pk []string) {
	for i, name := range fk {
		src := protectedIn(t, name)
		var dst *policy.ProtectedColumn
		if i < len(pk) {
			dst = protectedIn(ref, pk[i])
		}
		if src == nil && dst == nil || src != nil && dst != nil && src.Mode == policy.ModeDeterministic &&
			dst.Mode == policy.ModeDeterministic && src.Key == dst.Key {
			continue
		}
		if src == nil {
			src = dst
		}
		p.refuse(src, "FOREIGN KEY between an encrypted column and a column not encrypted under the same deterministic key")
	}
}
