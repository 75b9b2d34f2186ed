package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// A partition or inheritance child of a protected table holds rows of
// the protected table, and a protected partition holds rows written
// through its parent; phiguard refuses writes through them, knowing
// them from its catalog. The catalog is read after DDL, before the next
// Query or the Parse after the next Sync, so DDL making such a link
// followed by a write in the same text or pipeline had the write
// planned as a write to a plain table: CREATE TABLE c () INHERITS (t);
// INSERT INTO c (id, name) VALUES (...) stored the name in clear among
// t's rows (TestRedTeam11ChildMadeInSameQuery). So:
//
//   - CREATE TABLE ... INHERITS (t) or PARTITION OF t, t protected, is
//     refused (0A000) in a text of several statements: alone, the
//     catalog is read before anything names the new table (in a
//     pipeline, a Parse naming it is unknown and refused with 40001).
//   - ALTER TABLE c INHERIT t and ALTER TABLE t ATTACH PARTITION c, with
//     t or c protected, are refused: c may already be known as a plain
//     table to a statement after it in the same pipeline, and its rows,
//     written without phiguard, would become t's. Link them directly
//     against the database.

// inheritance refuses the DDL above.
func (p *planner) inheritance(n *pg_query.Node) {
	switch {
	case n.GetCreateStmt() != nil && !p.single:
		for _, parent := range n.GetCreateStmt().GetInhRelations() {
			rv := parent.GetRangeVar()
			if t := p.table(rv.GetSchemaname(), rv.GetRelname()); t != nil {
				p.refuseTable(t, "CREATE TABLE ... INHERITS or PARTITION OF it with other statements in one query (send it alone)")
				return
			}
		}
	case n.GetAlterTableStmt() != nil:
		a := n.GetAlterTableStmt()
		for _, c := range a.GetCmds() {
			cmd := c.GetAlterTableCmd()
			var other *pg_query.RangeVar
			switch cmd.GetSubtype() {
			case pg_query.AlterTableType_AT_AddInherit:
				other = cmd.GetDef().GetRangeVar()
			case pg_query.AlterTableType_AT_AttachPartition:
				other = cmd.GetDef().GetPartitionCmd().GetName()
			default:
				continue
			}
			for _, rv := range []*pg_query.RangeVar{a.GetRelation(), other} {
				if t := p.table(rv.GetSchemaname(), rv.GetRelname()); t != nil {
					p.refuseTable(t, "ALTER TABLE ... INHERIT or ATTACH PARTITION with it (link them directly against the database)")
					return
				}
			}
		}
	}
}
