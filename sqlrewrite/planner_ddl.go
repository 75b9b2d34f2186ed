package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// ddl plans DDL that names a protected table. Schema changes run (the DBA
// manages the legacy schema through phiguard, and the proxy re-reads its
// catalog afterwards); what is refused is the DDL that stores values (a
// default or generated expression on a protected column, which
// PostgreSQL would write unencrypted into existing or future rows) and
// the DDL that has the database evaluate expressions over a protected
// column's cells (planner_ddl_expr.go).
func (p *planner) ddl(n *pg_query.Node) {
	p.inheritance(n)          // planner_ddl_inherit.go
	p.statsAndPublications(n) // planner_ddl_expr.go
	switch {
	case n.GetRenameStmt() != nil:
		p.rename(n.GetRenameStmt())
	case n.GetAlterObjectSchemaStmt() != nil:
		p.setSchema(n.GetAlterObjectSchemaStmt())
	case n.GetIndexStmt() != nil:
		p.index(n.GetIndexStmt())
	case n.GetCreatePolicyStmt() != nil:
		c := n.GetCreatePolicyStmt()
		t := p.table(c.GetTable().GetSchemaname(), c.GetTable().GetRelname())
		p.refuseExprOver(t, c.GetQual(), "a row security policy")
		p.refuseExprOver(t, c.GetWithCheck(), "a row security policy")
	case n.GetAlterPolicyStmt() != nil:
		c := n.GetAlterPolicyStmt()
		t := p.table(c.GetTable().GetSchemaname(), c.GetTable().GetRelname())
		p.refuseExprOver(t, c.GetQual(), "a row security policy")
		p.refuseExprOver(t, c.GetWithCheck(), "a row security policy")
	case n.GetCreateTableAsStmt() != nil:
		p.createTableAs(n.GetCreateTableAsStmt()) // planner_ddl_copy.go
	case n.GetCreateStmt() != nil:
		c := n.GetCreateStmt()
		t := p.table(c.GetRelation().GetSchemaname(), c.GetRelation().GetRelname())
		for _, e := range c.GetTableElts() {
			if d := e.GetColumnDef(); d != nil {
				p.columnDef(t, d)
			}
			p.constraint(t, e.GetConstraint(), "")
		}
	case n.GetAlterTableStmt() != nil:
		a := n.GetAlterTableStmt()
		t := p.table(a.GetRelation().GetSchemaname(), a.GetRelation().GetRelname())
		for _, c := range a.GetCmds() {
			cmd := c.GetAlterTableCmd()
			switch cmd.GetSubtype() {
			case pg_query.AlterTableType_AT_AddColumn:
				p.columnDef(t, cmd.GetDef().GetColumnDef())
			case pg_query.AlterTableType_AT_AddConstraint:
				p.constraint(t, cmd.GetDef().GetConstraint(), "")
			case pg_query.AlterTableType_AT_ColumnDefault:
				if col := protectedIn(t, cmd.GetName()); col != nil && cmd.GetDef() != nil {
					p.refuse(col, "a default value on an encrypted column (it would be stored unencrypted)")
				}
			case pg_query.AlterTableType_AT_AlterColumnType:
				if col := protectedIn(t, cmd.GetName()); col != nil && cmd.GetDef().GetColumnDef().GetRawDefault() != nil {
					p.refuse(col, "ALTER COLUMN ... TYPE ... USING on an encrypted column")
				} else if col != nil && !plainTextType(cmd.GetDef().GetColumnDef().GetTypeName()) {
					// varchar(10) failed on the cells (22001) where
					// the plaintext database converts the values.
					p.refuse(col, "ALTER COLUMN ... TYPE of an encrypted column to a type but text (its cells are text)")
				}
			}
		}
	}
}

// columnDef refuses a default or generated expression on a protected
// column, and a constraint of any column that reads a protected one.
func (p *planner) columnDef(t *policy.ProtectedTable, d *pg_query.ColumnDef) {
	for _, c := range d.GetConstraints() {
		p.constraint(t, c.GetConstraint(), d.GetColname())
	}
	col := protectedIn(t, d.GetColname())
	if col == nil {
		return
	}
	if d.GetRawDefault() != nil {
		p.refuse(col, "a default value on an encrypted column (it would be stored unencrypted)")
	}
	for _, c := range d.GetConstraints() {
		switch c.GetConstraint().GetContype() {
		case pg_query.ConstrType_CONSTR_DEFAULT, pg_query.ConstrType_CONSTR_GENERATED:
			p.refuse(col, "a default or generated value on an encrypted column (it would be stored unencrypted)")
		}
	}
}

func protectedIn(t *policy.ProtectedTable, column string) *policy.ProtectedColumn {
	if t == nil {
		return nil
	}
	c, _ := t.Column(column)
	return c
}

// plainTextType: n is text (pg_catalog.text), without modifier or array
// bounds: the type an encrypted column's cells are stored as.
func plainTextType(n *pg_query.TypeName) bool {
	names := n.GetNames()
	if len(names) == 0 || len(n.GetTypmods()) > 0 || len(n.GetArrayBounds()) > 0 || n.GetSetof() {
		return false
	}
	last := names[len(names)-1].GetString_().GetSval()
	return last == "text" && (len(names) == 1 || names[0].GetString_().GetSval() == "pg_catalog")
}
