package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// The policy names protected columns and tables. Renamed through
// phiguard, a protected column or table leaves its cells under a name
// the policy does not protect, and a plain column renamed to a
// protected name puts its plaintext under the policy: the next INSERT
// of the renamed column (in the same Query: ALTER TABLE ... RENAME
// COLUMN name TO n2; INSERT ... (n2) VALUES ('...')) stored plaintext
// among the cells, and renaming back left it in the encrypted column
// (TestRedTeam10RenameProtected). So renaming a protected column,
// another column of its table to a protected name (ALTER TABLE, or ALTER
// TYPE ... RENAME ATTRIBUTE on the table's row type), or a protected
// table (by any relation's RENAME), or moving that table to another
// schema or renaming its schema, is refused (0A000): change the
// policy and the schema together, directly against the database. (A
// table of another name renamed to a protected table's name is not
// planned here: its rows are then legacy plaintext under the policy, as
// before phiguard encrypt.)

// rename refuses RENAME of or to a protected column, or of a protected
// table.
func (p *planner) rename(rn *pg_query.RenameStmt) {
	rel := rn.GetRelation()
	if rel == nil {
		return
	}
	switch rn.GetRenameType() {
	case pg_query.ObjectType_OBJECT_COLUMN, pg_query.ObjectType_OBJECT_ATTRIBUTE: // ALTER TYPE t RENAME ATTRIBUTE renames a table's column too
		t := p.table(rel.GetSchemaname(), rel.GetRelname())
		for _, name := range []string{rn.GetSubname(), rn.GetNewname()} {
			if col := protectedIn(t, name); col != nil {
				p.refuse(col, "renaming an encrypted column, or another column to its name (the policy names it)")
			}
		}
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW,
		pg_query.ObjectType_OBJECT_FOREIGN_TABLE, pg_query.ObjectType_OBJECT_INDEX, pg_query.ObjectType_OBJECT_SEQUENCE:
		// ALTER INDEX ... RENAME renames a table too: PostgreSQL lets a
		// rename through whatever relation its name finds.
		if t := p.table(rel.GetSchemaname(), rel.GetRelname()); t != nil {
			p.refuseTable(t, "renaming it (the policy names it)")
		}
	}
}

// schemaRenameRefusal refuses renaming a schema holding a protected
// table, or another schema to such a schema's name: the policy names the
// table with its schema, as for SET SCHEMA. ALTER SCHEMA names no table,
// so it is checked with the session's refusals (planner_session.go).
func schemaRenameRefusal(rn *pg_query.RenameStmt, pol *policy.Policy) *Refusal {
	if rn.GetRenameType() != pg_query.ObjectType_OBJECT_SCHEMA {
		return nil
	}
	for _, t := range pol.Tables() {
		if t.Name.Schema == rn.GetSubname() || t.Name.Schema == rn.GetNewname() {
			return &Refusal{Code: pgerr.FeatureNotSupported, Table: t.Name.String(),
				Construct: "renaming its schema, or another schema to its schema's name (the policy names it)"}
		}
	}
	return nil
}

// setSchema refuses moving a protected table to another schema.
func (p *planner) setSchema(n *pg_query.AlterObjectSchemaStmt) {
	if rel := n.GetRelation(); rel != nil {
		if t := p.table(rel.GetSchemaname(), rel.GetRelname()); t != nil {
			p.refuseTable(t, "moving it to another schema (the policy names it)")
		}
	}
}
