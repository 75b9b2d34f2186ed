package sqlrewrite

import pg_query "github.com/pganalyze/pg_query_go/v5"

// sessionLocalDDL reports whether node is DDL whose effect no other
// session sees in the catalog: it makes a temporary table, view or
// sequence (in the session's own pg_temp schema), or it changes data or
// storage but no catalog row the guard reads (TRUNCATE, REINDEX,
// REFRESH MATERIALIZED VIEW, COMMENT, SECURITY LABEL). The guard does
// not ask the database's other sessions to read their catalogs again
// after it (guard/catalog_epoch.go): an application that makes a
// temporary table in each transaction would have every session read its
// catalog at each.
func sessionLocalDDL(node *pg_query.Node) bool {
	switch {
	case node.GetCreateStmt() != nil:
		return temporary(node.GetCreateStmt().GetRelation())
	case node.GetCreateTableAsStmt() != nil:
		return temporary(node.GetCreateTableAsStmt().GetInto().GetRel())
	case node.GetViewStmt() != nil:
		return temporary(node.GetViewStmt().GetView())
	case node.GetCreateSeqStmt() != nil:
		return temporary(node.GetCreateSeqStmt().GetSequence())
	}
	return node.GetTruncateStmt() != nil || node.GetReindexStmt() != nil || node.GetRefreshMatViewStmt() != nil ||
		node.GetCommentStmt() != nil || node.GetSecLabelStmt() != nil
}

// temporary: a relation made TEMPORARY, or named in pg_temp.
func temporary(rv *pg_query.RangeVar) bool {
	return rv != nil && (rv.GetRelpersistence() == "t" || rv.GetSchemaname() == "pg_temp")
}

// noteTransaction notes what a transaction statement does to settings
// (a ROLLBACK undoes a SET) and to the catalog other sessions see
// (EndsPrepared).
func (st *Statement) noteTransaction(n *pg_query.TransactionStmt) {
	st.datetime = st.datetime || undoesSet(n)
	st.EndsPrepared = n.GetKind() == pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED ||
		n.GetKind() == pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED
}
