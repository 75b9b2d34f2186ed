package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// PathChange says how a statement may change the schemas an unqualified
// relation name resolves in (search_path, and the role "$user" names),
// for the proxy's check of relations another session made since it read
// its catalog (guard/catalog_path_follow.go).
type PathChange uint8

const (
	PathKept PathChange = iota // ordered weakest first
	// PathUndo: ROLLBACK TO SAVEPOINT, which undoes a SET after the
	// savepoint.
	PathUndo
	// PathEnd: COMMIT, ROLLBACK, PREPARE TRANSACTION: the end of a
	// transaction, which ends SET LOCAL and undoes a rolled-back SET.
	PathEnd
	// PathSet: SET or RESET of search_path, the role or the session
	// authorization, RESET ALL, set_config of one of those (or of a name
	// not given as a constant), DISCARD, CALL or DO, or a
	// statement that could not be classified.
	PathSet
)

// pathChange is the node's change, or PathKept.
func pathChange(n any) PathChange {
	switch n := n.(type) {
	case *pg_query.VariableSetStmt:
		switch n.GetName() {
		case "search_path", "role", "session_authorization":
			return PathSet
		}
		if n.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL {
			return PathSet
		}
	case *pg_query.DiscardStmt, *pg_query.DoStmt, *pg_query.CallStmt:
		return PathSet
	case *pg_query.FuncCall:
		// set_config('app.tenant', ...), as row-level security setups
		// call it in every transaction, is not the path: only a call
		// whose first argument is not a constant naming another setting.
		if _, name := funcParts(n.GetFuncname()); name == "set_config" && !otherSetting(n) {
			return PathSet
		}
	case *pg_query.TransactionStmt:
		switch n.GetKind() {
		case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
			return PathUndo
		case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK,
			pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
			return PathEnd
		}
	}
	return PathKept
}

// PathChange is the statement's strongest change of the search path.
func (s Statement) PathChange() PathChange {
	if s.Kind == KindUnknown {
		return PathSet
	}
	return s.path
}

// otherSetting: a set_config call whose first argument is a string
// constant naming a setting other than search_path, role and
// session_authorization (set_config('role', ...) is SET ROLE, and the
// path's "$user" then names the new role's schema:
// TestRedTeam32bRoleBySetConfig).
func otherSetting(n *pg_query.FuncCall) bool {
	args := n.GetArgs()
	if len(args) == 0 {
		return false
	}
	c := args[0].GetAConst()
	if c == nil || c.GetSval() == nil {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(c.GetSval().GetSval())) {
	case "search_path", "role", "session_authorization":
		return false
	}
	return true
}

// DefersPathChange: a PREPARE or DECLARE whose query may change the
// search path (PREPARE p AS SELECT set_config('search_path', ...)): it
// changes it when an EXECUTE of it, or a FETCH or MOVE of the cursor,
// runs it, a statement whose own text shows no change
// (TestRedTeam32bPathChangedByExecute).
func (s Statement) DefersPathChange() bool { return s.pathDefers }

// RunsDeferred: an EXECUTE, FETCH or MOVE, which runs a query prepared or
// declared before (DefersPathChange).
func (s Statement) RunsDeferred() bool { return s.pathRuns }
