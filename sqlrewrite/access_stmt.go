package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rewriteAccess applies a restricted role's rules. It changes a tree of
// its own (ownTree): the analysis may be shared with other texts of the
// same shape (other literals) and read by other sessions, and the
// rewrite edits the tree in place, recording each change as an edit of
// the text too (access_text.go).
func rewriteAccess(sql string, a *Analysis, pol *policy.Policy, role *policy.Role, objs Objects, breakGlass bool) (acc *Access) {
	acc = &Access{SQL: sql}
	w := &accessWalker{pol: pol, role: role, objs: objs, breakGlass: breakGlass, acc: acc, text: &accessText{sql: sql}}
	if objs == nil {
		w.objs = noObjects{}
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(accessAbort); !ok {
				panic(r)
			}
			acc.SQL, acc.Changed = sql, false
		}
	}()
	if a != nil && a.Err != nil {
		w.refuse(&Refusal{Code: pgerr.SyntaxError, Rule: w.stmtRule(), Message: fmt.Sprintf(
			"phiguard cannot analyse this statement (%s); role %s may only run statements it can analyse (rule %q)", a.Err.Error(), role.Name, w.stmtRule())})
	}
	tree, err := ownTree(sql, a)
	if err != nil {
		w.refuse(&Refusal{Code: pgerr.SyntaxError, Rule: w.stmtRule(), Message: fmt.Sprintf(
			"phiguard cannot analyse this statement (%s); role %s may only run statements it can analyse (rule %q)", toParseError(err).Error(), role.Name, w.stmtRule())})
	}
	for i, raw := range tree.GetStmts() {
		w.statement(raw.GetStmt(), a == nil || i >= len(a.Statements) || a.Statements[i].withQueries)
	}
	if w.changed {
		acc.SQL, acc.Changed = w.written(tree), true
	}
	return acc
}

// ownTree is a tree of sql for the walker to change: a copy of a's when a
// is sql's own analysis and still holds its tree (a copy costs about a
// third of a parse), else sql parsed. Never a's tree itself, which other
// sessions read: a may serve every text of its shape.
func ownTree(sql string, a *Analysis) (*pg_query.ParseResult, error) {
	if a != nil && a.Err == nil && a.sql == sql {
		if t := a.tree.Load(); t != nil {
			return proto.Clone(t).(*pg_query.ParseResult), nil
		}
	}
	return pg_query.Parse(sql)
}

// written is the statement with the rules' changes: the client's text
// edited (access_text.go), or, when that text does not parse to the
// changed tree, the tree written whole. The edited text's parse, which
// the check made, becomes its analysis (acc.written): the planner plans
// the text from it and does not parse it again.
func (w *accessWalker) written(tree *pg_query.ParseResult) string {
	if out, ok := w.text.result(); ok {
		if parsed, same := sameStatements(out, tree); same {
			w.acc.written = analyzeParsed(out, parsed)
			return out
		}
	}
	accessTextFallbacks.Add(1)
	out, err := pg_query.Deparse(tree)
	if err != nil {
		w.refuse(&Refusal{Code: pgerr.InternalError, Rule: w.stmtRule(), Message: "phiguard could not write the statement with its row rules: " + err.Error()})
	}
	return out
}

// noObjects answers for a walker with no catalog: nothing is known, so
// every relation is refused.
type noObjects struct{}

func (noObjects) RelationKind(string, string) RelationKind         { return RelationUnknown }
func (noObjects) Columns(string, string) ([]string, bool)          { return nil, false }
func (noObjects) ColumnType(string, string, string) (string, bool) { return "", false }
func (noObjects) RelationSchemas(string) []string                  { return nil }
func (noObjects) FunctionSafe(string, string) bool                 { return false }
func (noObjects) OperatorSafe(string, string) bool                 { return false }
func (noObjects) Version() string                                  { return "" }

// alwaysRefused are statements that could change what the rules see or
// run code outside them; a role with rules may not run them whatever
// statement classes it has.
var alwaysRefused = map[protoreflect.Name]string{
	"DoStmt":                  "DO blocks",
	"CreateFunctionStmt":      "creating functions or procedures",
	"AlterFunctionStmt":       "altering functions or procedures",
	"CreateTrigStmt":          "creating triggers",
	"CreateEventTrigStmt":     "creating event triggers",
	"AlterEventTrigStmt":      "altering event triggers",
	"RuleStmt":                "creating rules",
	"ViewStmt":                "creating views",
	"CreatePolicyStmt":        "creating row security policies",
	"AlterPolicyStmt":         "altering row security policies",
	"AlterRoleSetStmt":        "changing a role's settings",
	"AlterDatabaseSetStmt":    "changing a database's settings",
	"AlterRoleStmt":           "altering roles",
	"CreateRoleStmt":          "creating roles",
	"GrantRoleStmt":           "granting roles",
	"AlterSystemStmt":         "ALTER SYSTEM",
	"CreateCastStmt":          "creating casts",
	"DefineStmt":              "defining operators, aggregates or types",
	"CreateOpClassStmt":       "creating operator classes",
	"CreateTransformStmt":     "creating transforms",
	"CreateExtensionStmt":     "creating extensions",
	"AlterExtensionStmt":      "altering extensions",
	"CreateFdwStmt":           "creating foreign-data wrappers",
	"CreateForeignServerStmt": "creating foreign servers",
	"CreateUserMappingStmt":   "creating user mappings",
	"ImportForeignSchemaStmt": "importing foreign schemas",
	"PrepareStmt":             "SQL-level PREPARE (use the protocol's Parse instead)",
	"ExecuteStmt":             "SQL-level EXECUTE",
	"LoadStmt":                "LOAD",
	"CreateConversionStmt":    "creating conversions",
	"AlterOwnerStmt":          "changing owners",
}

// settingsRefused are settings that change name resolution or identity.
var settingsRefused = map[string]bool{
	"search_path": true, "role": true, "session_authorization": true,
	"session_replication_role": true, "row_security": true,
}

// statement walks one statement of the text, its relation names bound
// first (bind_relations.go) when it has a WITH clause (the analysis
// says so; without one every relation name is the catalog's).
func (w *accessWalker) statement(n *pg_query.Node, withQueries bool) {
	w.bound = nil
	if withQueries {
		w.bound = bindRelations(n.ProtoReflect())
	}
	w.cteRels = map[*pg_query.CommonTableExpr]*accessRel{}
	w.statementNode(n, nil, outClient)
}

func stmtName(n *pg_query.Node) protoreflect.Name {
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd == nil || fd.Message() == nil {
		return ""
	}
	return fd.Message().Name()
}

// statementNode checks a statement's class and walks it.
func (w *accessWalker) statementNode(n *pg_query.Node, sc *accessScope, mode outMode) {
	name := stmtName(n)
	if what, ok := alwaysRefused[name]; ok {
		w.refuseConstruct(w.stmtRule(), "", "%s is not allowed for a role with access rules", what)
	}
	if ct := n.GetCreateTableAsStmt(); ct != nil && ct.GetObjtype() == pg_query.ObjectType_OBJECT_MATVIEW {
		w.refuseConstruct(w.stmtRule(), "", "creating materialized views is not allowed for a role with access rules")
	}
	switch {
	case n.GetSelectStmt() != nil:
		sel := n.GetSelectStmt()
		if sel.GetIntoClause() != nil {
			w.requireClass(policy.ClassDDL, "SELECT INTO")
			w.selectQuery(n, sc, outUsed)
			return
		}
		w.requireClass(policy.ClassRead, "SELECT")
		w.selectQuery(n, sc, mode)
	case n.GetInsertStmt() != nil:
		w.requireClass(policy.ClassWrite, "INSERT")
		w.insert(n.GetInsertStmt(), sc, mode)
	case n.GetUpdateStmt() != nil:
		w.requireClass(policy.ClassWrite, "UPDATE")
		w.update(n.GetUpdateStmt(), sc, mode)
	case n.GetDeleteStmt() != nil:
		w.requireClass(policy.ClassWrite, "DELETE")
		w.delete(n.GetDeleteStmt(), sc, mode)
	case n.GetMergeStmt() != nil:
		w.requireClass(policy.ClassWrite, "MERGE")
		w.merge(n.GetMergeStmt())
	case n.GetCopyStmt() != nil:
		w.requireClass(policy.ClassCopy, "COPY")
		w.copy(n.GetCopyStmt())
	case n.GetExplainStmt() != nil:
		w.explain(n.GetExplainStmt())
	case n.GetDeclareCursorStmt() != nil:
		w.requireClass(policy.ClassRead, "DECLARE CURSOR")
		w.selectQuery(n.GetDeclareCursorStmt().GetQuery(), nil, outClient)
	case n.GetCreateTableAsStmt() != nil:
		w.requireClass(policy.ClassDDL, "CREATE TABLE AS")
		q := n.GetCreateTableAsStmt().GetQuery()
		if q.GetSelectStmt() == nil {
			w.refuseConstruct(w.stmtRule(), "", "CREATE TABLE AS over a %s is not supported for a role with access rules", nodeName(q))
		}
		w.selectQuery(q, nil, outUsed)
	case n.GetVariableSetStmt() != nil:
		w.set(n.GetVariableSetStmt())
	case n.GetVariableShowStmt() != nil:
		w.requireClass(policy.ClassUtility, "SHOW")
	case n.GetTransactionStmt() != nil, n.GetDeallocateStmt() != nil,
		n.GetFetchStmt() != nil, n.GetClosePortalStmt() != nil:
		// Transaction control and cursor movement are always allowed:
		// they read nothing a cursor's own analysis did not check.
	case n.GetCallStmt() != nil:
		fc := n.GetCallStmt().GetFunccall()
		schema, fname := funcParts(fc.GetFuncname())
		if !w.role.AllowsFunction(schema, fname) {
			w.refuseConstruct(w.role.Name+": functions", "", "procedure %s is not on the role's function allow-list", funcNameOf(fc.GetFuncname()))
		}
		w.exprs(fc.GetArgs(), newAccessScope(nil))
	default:
		switch classify(n) {
		case KindDDL:
			w.requireClass(policy.ClassDDL, string(name))
			w.ddlTables(n)
		case KindEmpty:
		default:
			w.requireClass(policy.ClassUtility, string(name))
			w.ddlTables(n)
		}
	}
}

func (w *accessWalker) requireClass(c policy.StatementClass, what string) {
	if !w.role.Allows(c) {
		w.refuseConstruct(w.stmtRule(), "", "%s is a %s statement, which the role may not run", what, c)
	}
}

// ddlTables refuses DDL and utility statements that name a table with a
// row rule (TRUNCATE or DROP would reach rows the role cannot see) or a
// table the role's row rules read (dropping, truncating, altering or
// recreating it would change what the rules let through), and a RENAME
// that would give a table the name of one the rules read.
func (w *accessWalker) ddlTables(n *pg_query.Node) {
	what := string(stmtName(n))
	if rn := n.GetRenameStmt(); rn != nil && rn.GetRelation() != nil && rn.GetSubname() == "" {
		w.refuseRuleInput(&pg_query.RangeVar{Schemaname: rn.GetRelation().GetSchemaname(), Relname: rn.GetNewname()}, what)
	}
	for _, rv := range droppedRelations(n.GetDropStmt()) {
		w.refuseRuleInput(rv, what)
		if rule := w.rowRule(rv.GetSchemaname(), rv.GetRelname()); rule != nil {
			w.refuseConstruct(rule.Name, tableString(rv), "table %s has a row rule for the role; this statement would reach rows the role cannot see", tableString(rv))
		}
	}
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		rv, ok := m.Interface().(*pg_query.RangeVar)
		if !ok {
			return
		}
		w.refuseRuleInput(rv, what)
		if rule := w.rowRule(rv.GetSchemaname(), rv.GetRelname()); rule != nil {
			w.refuseConstruct(rule.Name, tableString(rv), "table %s has a row rule for the role; this statement would reach rows the role cannot see", tableString(rv))
		}
		if len(w.restrictedColumns(rv.GetSchemaname(), rv.GetRelname())) > 0 {
			w.refuseConstruct(w.stmtRule(), tableString(rv), "table %s has columns the role may not read in full; this statement is not allowed on it", tableString(rv))
		}
	})
}

// droppedRelations lists the relations a DROP TABLE (or VIEW, SEQUENCE,
// ...) names: DROP writes them as lists of name parts, not RangeVars.
func droppedRelations(d *pg_query.DropStmt) []*pg_query.RangeVar {
	switch d.GetRemoveType() {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW,
		pg_query.ObjectType_OBJECT_FOREIGN_TABLE, pg_query.ObjectType_OBJECT_SEQUENCE, pg_query.ObjectType_OBJECT_INDEX:
	default:
		return nil
	}
	var out []*pg_query.RangeVar
	for _, o := range d.GetObjects() {
		var parts []string
		for _, p := range o.GetList().GetItems() {
			parts = append(parts, p.GetString_().GetSval())
		}
		switch len(parts) {
		case 1:
			out = append(out, &pg_query.RangeVar{Relname: parts[0]})
		case 2, 3: // [database.]schema.table
			out = append(out, &pg_query.RangeVar{Schemaname: parts[len(parts)-2], Relname: parts[len(parts)-1]})
		}
	}
	return out
}

// set handles SET and RESET: break-glass, and the settings that would
// change name resolution or identity.
func (w *accessWalker) set(s *pg_query.VariableSetStmt) {
	name := strings.ToLower(s.GetName())
	if name == BreakGlassSetting {
		w.breakGlassRequest(s)
		return
	}
	if strings.HasPrefix(name, "phiguard.") {
		w.refuseConstruct(w.stmtRule(), "", "setting %s is reserved for phiguard", name)
	}
	if settingsRefused[name] && s.GetKind() != pg_query.VariableSetKind_VAR_RESET {
		w.refuseConstruct(w.stmtRule(), "", "SET %s is not allowed for a role with access rules: it changes how names resolve or who the session is", name)
	}
	if s.GetKind() == pg_query.VariableSetKind_VAR_SET_VALUE {
		for _, arg := range s.GetArgs() {
			if why := SettingProblem(name, settingValue(arg), false); why != "" {
				w.refuseConstruct(w.stmtRule(), "", "%s", why)
			}
		}
	}
	w.requireClass(policy.ClassUtility, "SET")
}

// breakGlassRequest checks a `SET phiguard.break_glass = 'reason'`.
func (w *accessWalker) breakGlassRequest(s *pg_query.VariableSetStmt) {
	rule := w.role.Name + ": break_glass"
	if !w.role.BreakGlass {
		w.refuseConstruct(rule, "", "role %s may not break the glass", w.role.Name)
	}
	if s.GetKind() != pg_query.VariableSetKind_VAR_SET_VALUE || len(s.GetArgs()) != 1 || s.GetArgs()[0].GetAConst().GetSval() == nil {
		w.refuseConstruct(rule, "", "break-glass needs a reason: SET %s = 'why, in at least %d words'", BreakGlassSetting, policy.MinBreakGlassWords)
	}
	reason := strings.TrimSpace(s.GetArgs()[0].GetAConst().GetSval().GetSval())
	if len(strings.Fields(reason)) < policy.MinBreakGlassWords {
		w.refuseConstruct(rule, "", "a break-glass reason needs at least %d words", policy.MinBreakGlassWords)
	}
	w.acc.BreakGlass = &BreakGlass{Reason: reason}
	w.acc.Decisions = append(w.acc.Decisions, Decision{Rule: rule, Effect: "break-glass"})
}

// explain refuses EXPLAIN on anything a rule touches (estimates and row
// counts are a side channel on the hidden rows), and otherwise checks the
// explained statement like any other.
func (w *accessWalker) explain(e *pg_query.ExplainStmt) {
	analyze := false
	for _, o := range e.GetOptions() {
		if d := o.GetDefElem(); d != nil && strings.EqualFold(d.GetDefname(), "analyze") {
			analyze = true
		}
	}
	if !analyze {
		w.requireClass(policy.ClassRead, "EXPLAIN")
	}
	w.statementNode(e.GetQuery(), nil, outClient)
	if w.touched || w.changed {
		w.refuseConstruct(w.stmtRule(), "", "EXPLAIN of a statement on rows or columns the role's rules limit is not allowed (its estimates and row counts describe hidden data)")
	}
}

// function checks that a function call is allowed: a safe built-in, or on
// the role's allow-list.
func (w *accessWalker) function(parts []*pg_query.Node) {
	w.statisticsFunction(parts)
	schema, name := funcParts(parts)
	if w.role.AllowsFunction(schema, name) {
		return
	}
	if (schema == "" || schema == "pg_catalog") && w.objs.FunctionSafe(schema, name) {
		return
	}
	w.refuseConstruct(w.role.Name+": functions", "", "function %s is not allowed: only built-in functions that cannot run SQL, touch files or change settings, and the role's allow-list, may be called", funcNameOf(parts))
}

func (w *accessWalker) operatorName(parts []*pg_query.Node) {
	if len(parts) == 0 {
		return
	}
	schema, name := funcParts(parts)
	if (schema == "" || schema == "pg_catalog") && w.objs.OperatorSafe(schema, name) {
		return
	}
	w.refuseConstruct(w.role.Name+": functions", "", "operator %s is not a built-in operator", funcNameOf(parts))
}

func funcParts(parts []*pg_query.Node) (schema, name string) {
	var names []string
	for _, p := range parts {
		names = append(names, p.GetString_().GetSval())
	}
	switch len(names) {
	case 0:
		return "", ""
	case 1:
		return "", names[0]
	default:
		return names[len(names)-2], names[len(names)-1]
	}
}
