package sqlrewrite

import (
	"cmp"
	"errors"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/pganalyze/pg_query_go/v5/parser"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Analyze parses sql and classifies every statement in it. It never fails:
// a text pg_query rejects yields an Analysis whose Err says why.
func Analyze(sql string) *Analysis {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return &Analysis{sql: sql, Err: toParseError(err)}
	}
	return analyzeParsed(sql, tree)
}

// analyzeParsed classifies the statements of tree, which is sql's parse.
func analyzeParsed(sql string, tree *pg_query.ParseResult) *Analysis {
	a := &Analysis{sql: sql}
	a.tree.Store(tree)
	a.settingDependent = strings.Contains(sql, `\`) // backslash_quote (analysis_settings.go)
	for _, raw := range tree.Stmts {
		a.Statements = append(a.Statements, analyzeStatement(raw.Stmt, a))
	}
	if len(a.Statements) == 0 {
		a.Statements = []Statement{{Kind: KindEmpty}}
	}
	return a
}

func toParseError(err error) *ParseError {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return &ParseError{Message: pe.Message, Position: pe.Cursorpos}
	}
	return &ParseError{Message: err.Error()}
}

// analyzeStatement classifies one statement and adds its nodes to a's
// counts.
func analyzeStatement(node *pg_query.Node, a *Analysis) Statement {
	st := Statement{Kind: classify(node)}
	st.SessionLocal = st.Kind == KindDDL && sessionLocalDDL(node)
	st.Cursor, st.CursorOp = cursorOf(node)
	seen := map[TableName]bool{}
	named := map[string]int{} // relation name (any schema) → times named
	var ctes []string
	var locked map[*pg_query.RangeVar]bool // made at the first FOR UPDATE OF
	var cols columnNames                   // columns.go
	walk(node.ProtoReflect(), func(m protoreflect.Message) {
		a.nodes++
		a.noteNode(m.Interface())
		st.userType = st.userType || userType(m.Interface())
		st.notePrepared(m.Interface())
		cols.note(m)
		switch n := m.Interface().(type) {
		case *pg_query.A_Const, *pg_query.ParamRef:
			a.literals++
		case *pg_query.CommonTableExpr:
			ctes = append(ctes, n.Ctename)
		case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
			st.Writes = true
		case *pg_query.CreateTableAsStmt:
			st.Copies = true
		case *pg_query.VariableSetStmt:
			st.valueDependent = true
			st.datetime, st.analysisSetting = st.datetime || setsDatetime(n), st.analysisSetting || setsAnalysis(n)
		case *pg_query.TransactionStmt:
			st.noteTransaction(n)
		case *pg_query.DiscardStmt:
			st.datetime, st.analysisSetting = true, true
			if n.GetTarget() == pg_query.DiscardMode_DISCARD_ALL {
				st.Deallocates = "*"
			}
		case *pg_query.SortBy:
			// ORDER BY 2 names a select-list entry by a literal: which
			// column is sorted (in the proxy, for an encrypted one:
			// planner_sort.go) depends on its value.
			if c := n.GetNode().GetAConst(); c != nil && c.GetIval() != nil {
				st.valueDependent = true
			}
		case *pg_query.SelectStmt:
			// So do GROUP BY 2 and DISTINCT ON (2) (planner_group.go).
			if positional(append(groupingItems(n.GetGroupClause()), n.GetDistinctClause()...)) {
				st.valueDependent = true
			}
		case *pg_query.FuncCall:
			if _, name := funcParts(n.GetFuncname()); name == "set_config" {
				st.valueDependent, st.datetime, st.analysisSetting = true, true, true
			}
			st.opaque = st.opaque || opaqueCall(n) && !grammarCall(n) // LIKE ... ESCAPE's like_escape runs no SET
		case *pg_query.CopyStmt:
			st.Writes = st.Writes || n.IsFrom
			// Its options are literals (DELIMITER '|', NULL 'x', QUOTE, ENCODING,
			// FORMAT 'csv') that say how the proxy cuts the rows: a plan cached
			// by shape would cut them at another COPY's delimiter and pass a
			// value in clear. Not valueDependent, which also says a statement
			// may change settings (MayChangeSettings): the proxy would then read
			// them behind the COPY, a Query the backend gets in the middle of
			// COPY FROM STDIN (08P01).
			st.optionsAreValues = true
		case *pg_query.LockingClause:
			locked = lockedRels(n, locked)
		case *pg_query.RangeVar:
			if locked[n] {
				break
			}
			named[n.Relname]++
			t := TableName{Schema: n.Schemaname, Name: n.Relname}
			if !seen[t] {
				seen[t] = true
				st.Tables = append(st.Tables, t)
			}
		}
	})
	st.repeated = repeatedNames(named, ctes)
	cols.done(&st)
	st.CTEs, st.withQueries = boundCTEs(node.ProtoReflect(), ctes), len(ctes) > 0 // bind_relations.go
	return st
}

// unqualified: n names a relation, function, type or collation without
// its schema, or in a way a plan PostgreSQL caches keeps while another
// session's DDL would make a new analysis resolve it otherwise
// (Analysis.Qualified): a function outside pg_catalog (a new overload in
// its schema invalidates no plan, TestRedTeam32aOverload), a constant of
// a reg* type or one a pg_catalog function reads as such (its name is
// looked up on the search_path at analysis, TestRedTeam32aRegclassLiteral).
func unqualified(n any) bool {
	switch n := n.(type) {
	case *pg_query.RangeVar:
		return n.Schemaname == ""
	case *pg_query.FuncCall:
		name := n.GetFuncname()
		if len(name) < 2 {
			return true
		}
		last := name[len(name)-1].GetString_().GetSval()
		return name[0].GetString_().GetSval() != "pg_catalog" || nameArgs[last] || nameTypes[last]
	case *pg_query.TypeName:
		name := n.GetNames()
		return len(name) < 2 || nameTypes[name[len(name)-1].GetString_().GetSval()]
	case *pg_query.CollateClause:
		return len(n.GetCollname()) < 2
	}
	return false
}

// nameTypes are the types whose constants are names looked up on the
// search_path when a text is analysed (a cast to one, or a function of
// that name), nameArgs the pg_catalog functions with an argument of one
// of them that a string constant would be given.
var (
	nameTypes = map[string]bool{
		"regclass": true, "regproc": true, "regprocedure": true, "regoper": true, "regoperator": true,
		"regtype": true, "regnamespace": true, "regrole": true, "regcollation": true, "regconfig": true,
		"regdictionary": true,
	}
	nameArgs = map[string]bool{
		"nextval": true, "currval": true, "setval": true, "pg_relation_size": true, "pg_total_relation_size": true,
		"pg_table_size": true, "pg_indexes_size": true, "pg_relation_filenode": true, "pg_relation_filepath": true,
		"to_tsvector": true, "to_tsquery": true, "plainto_tsquery": true, "phraseto_tsquery": true,
		"websearch_to_tsquery": true, "ts_headline": true, "ts_lexize": true, "json_to_tsvector": true,
		"jsonb_to_tsvector": true, "ts_debug": true, "ts_parse": true, "ts_token_type": true,
		"pg_get_viewdef": true, "pg_get_ruledef": true, "pg_get_indexdef": true, "pg_get_constraintdef": true,
		"pg_get_expr": true, "pg_get_triggerdef": true, "pg_get_functiondef": true, "pg_get_function_arguments": true,
		"pg_get_function_result": true, "pg_get_function_identity_arguments": true, "pg_get_serial_sequence": true,
		"pg_sequence_last_value": true, "pg_sequence_parameters": true, "format_type": true,
		"obj_description": true, "col_description": true, "pg_partition_tree": true, "pg_partition_root": true,
		"pg_partition_ancestors": true, "pg_describe_object": true, "pg_identify_object": true,
		"pg_column_is_updatable": true, "pg_relation_is_updatable": true, "pg_options_to_table": true,
	}
)

// lockedRels adds to locked the names FOR UPDATE OF lists: FROM items
// (aliases), not relations, left out of Statement.Tables. Counted as
// relation names, an alias was one the catalog lacked, read before every
// such statement, and refused with 40001 inside REPEATABLE READ after a
// relation of its name was made (TestRedTeam31cLockedAlias).
func lockedRels(n *pg_query.LockingClause, locked map[*pg_query.RangeVar]bool) map[*pg_query.RangeVar]bool {
	for _, r := range n.GetLockedRels() {
		if locked == nil {
			locked = map[*pg_query.RangeVar]bool{}
		}
		locked[r.GetRangeVar()] = true
	}
	return locked
}

// cursorOf is the cursor a statement names and what it does to it.
func cursorOf(node *pg_query.Node) (string, CursorOp) {
	switch {
	case node.GetDeclareCursorStmt() != nil:
		return node.GetDeclareCursorStmt().GetPortalname(), CursorDeclare
	case node.GetFetchStmt() != nil:
		return node.GetFetchStmt().GetPortalname(), CursorRead
	case node.GetClosePortalStmt() != nil:
		if name := node.GetClosePortalStmt().GetPortalname(); name != "" {
			return name, CursorClose
		}
		return "", CursorCloseAll
	}
	return "", CursorNone
}

// positional: one of items is an integer constant, which names a
// select-list entry by position.
func positional(items []*pg_query.Node) bool {
	for _, g := range items {
		if c := g.GetAConst(); c != nil && c.GetIval() != nil {
			return true
		}
	}
	return false
}

// repeatedNames lists the relation names a statement may read through
// more than one range-table entry: those named more than once, and — when
// a WITH query is named more than once, so that everything it reads is
// read again — every name.
func repeatedNames(named map[string]int, ctes []string) []string {
	all := false
	for _, c := range ctes {
		if named[c] > 1 {
			all = true
		}
	}
	var out []string
	for name, n := range named {
		if n > 1 || all {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// walk visits m and every message below it. Walking by reflection rather
// than by a hand-written switch over node types means no table reference can
// hide in a node type the switch forgot. Fields are visited in field-number
// order: protobuf's Range order is unspecified and changes from one build
// to the next, and Statement.Tables must not.
func walk(m protoreflect.Message, visit func(protoreflect.Message)) {
	visit(m)
	type field struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var fields []field
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() != nil {
			fields = append(fields, field{fd, v})
		}
		return true
	})
	sort.Slice(fields, func(i, j int) bool { return fields[i].fd.Number() < fields[j].fd.Number() })
	for _, f := range fields {
		if f.fd.IsList() {
			list := f.v.List()
			for i := 0; i < list.Len(); i++ {
				walk(list.Get(i).Message(), visit)
			}
			continue
		}
		walk(f.v.Message(), visit)
	}
}

// kindByNode maps pg_query's statement node names to kinds. Names missing
// here fall back to kindByPrefix, then to KindUtility.
var kindByNode = map[protoreflect.Name]Kind{
	"SelectStmt":              KindSelect,
	"InsertStmt":              KindInsert,
	"UpdateStmt":              KindUpdate,
	"DeleteStmt":              KindDelete,
	"MergeStmt":               KindMerge,
	"CopyStmt":                KindCopy,
	"TransactionStmt":         KindTransaction,
	"VariableSetStmt":         KindSet,
	"VariableShowStmt":        KindSet,
	"PrepareStmt":             KindPrepared,
	"ExecuteStmt":             KindPrepared,
	"DeallocateStmt":          KindPrepared,
	"DeclareCursorStmt":       KindCursor,
	"FetchStmt":               KindCursor,
	"ClosePortalStmt":         KindCursor,
	"ExplainStmt":             KindExplain,
	"CallStmt":                KindCall,
	"DoStmt":                  KindCall,
	"TruncateStmt":            KindDDL,
	"IndexStmt":               KindDDL,
	"ViewStmt":                KindDDL,
	"RuleStmt":                KindDDL,
	"CommentStmt":             KindDDL,
	"SecLabelStmt":            KindDDL,
	"RenameStmt":              KindDDL,
	"ReindexStmt":             KindDDL,
	"CompositeTypeStmt":       KindDDL,
	"RefreshMatViewStmt":      KindDDL,
	"CreatedbStmt":            KindDDL,
	"DropdbStmt":              KindDDL,
	"ReassignOwnedStmt":       KindDDL,
	"ImportForeignSchemaStmt": KindDDL,
}

var kindByPrefix = []struct {
	prefix string
	kind   Kind
}{
	{"Create", KindDDL}, {"Alter", KindDDL}, {"Drop", KindDDL},
	{"Grant", KindDDL}, {"Define", KindDDL},
}

func classify(node *pg_query.Node) Kind {
	m := node.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd == nil || fd.Message() == nil {
		return KindUnknown
	}
	name := fd.Message().Name()
	if k, ok := kindByNode[name]; ok {
		return k
	}
	for _, p := range kindByPrefix {
		if strings.HasPrefix(string(name), p.prefix) {
			return p.kind
		}
	}
	return KindUtility
}

// setsDatetime: a SET or RESET of a setting PostgreSQL reads date, time
// and interval input under (RESET ALL included).
func setsDatetime(n *pg_query.VariableSetStmt) bool {
	switch strings.ToLower(n.GetName()) {
	case "datestyle", "timezone", "intervalstyle":
		return true
	}
	return n.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL
}

// setsAnalysis: a SET or RESET of a setting not known to leave parse
// analysis alone (MayChangeAnalysis), or RESET ALL.
func setsAnalysis(n *pg_query.VariableSetStmt) bool {
	if n.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL {
		return true
	}
	name := strings.ToLower(n.GetName())
	return !neutralSettings[name] && !strings.HasPrefix(name, "enable_") && !strings.Contains(name, ".")
}

// neutralSettings are settings PostgreSQL does not read while it
// analyses a text: they change execution, output, planning costs or
// timeouts (enable_* and custom, dotted names too), or PostgreSQL
// re-analyses a prepared statement itself when they change (search_path,
// role, row_security); DateStyle, TimeZone and IntervalStyle are
// reported, and the proxy follows their values. (The planner folds a
// constant cast to text under extra_float_digits or bytea_output: such
// a text is not reused at all, Analysis.SettingsFree.)
var neutralSettings = map[string]bool{
	"application_name": true, "extra_float_digits": true, "bytea_output": true, "client_min_messages": true,
	"statement_timeout": true, "lock_timeout": true, "idle_in_transaction_session_timeout": true, "idle_session_timeout": true,
	"search_path": true, "role": true, "session_authorization": true, "row_security": true,
	"datestyle": true, "timezone": true, "intervalstyle": true,
	"transaction": true, "session characteristics": true, "transaction_isolation": true, "transaction_read_only": true,
	"transaction_deferrable": true, "default_transaction_isolation": true, "default_transaction_read_only": true,
	"synchronous_commit": true, "work_mem": true, "maintenance_work_mem": true, "plan_cache_mode": true, "jit": true,
	"random_page_cost": true, "seq_page_cost": true, "cpu_tuple_cost": true, "effective_cache_size": true,
}

// undoesSet: a transaction statement that may undo a SET (or end a SET
// LOCAL): all but BEGIN, SAVEPOINT and RELEASE.
func undoesSet(n *pg_query.TransactionStmt) bool {
	switch n.GetKind() {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START,
		pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT, pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		return false
	}
	return true
}

// notePrepared notes the prepared statements an SQL DEALLOCATE drops,
// or a PREPARE or EXECUTE names (Deallocates, PreparedName; Prepares,
// Executes).
func (st *Statement) notePrepared(m any) {
	switch n := m.(type) {
	case *pg_query.DeallocateStmt:
		st.Deallocates = cmp.Or(n.GetName(), "*")
	case *pg_query.PrepareStmt:
		st.PreparedName, st.Prepares = n.GetName(), n.GetName()
	case *pg_query.ExecuteStmt:
		st.PreparedName, st.Executes = n.GetName(), n.GetName()
	}
}

// userType: n may name a type of the database's own (a domain, whose
// CHECK runs at a cast; a type whose input function is user code): not
// pg_catalog's, nor an unqualified name of one of builtinTypes.
func userType(m any) bool {
	n, ok := m.(*pg_query.TypeName)
	if !ok {
		return false
	}
	names := n.GetNames()
	switch len(names) {
	case 0:
		return true
	case 1:
		return !builtinTypes[names[0].GetString_().GetSval()]
	}
	return names[0].GetString_().GetSval() != "pg_catalog"
}

// builtinTypes are pg_catalog's types a text names without their schema
// (pg_query spells keyword types such as int and timestamp with it).
var builtinTypes = map[string]bool{
	"text": true, "date": true, "uuid": true, "json": true, "jsonb": true, "bytea": true, "name": true, "oid": true,
	"money": true, "inet": true, "cidr": true, "macaddr": true, "macaddr8": true, "xml": true, "tsvector": true,
	"tsquery": true, "record": true, "void": true, "point": true, "line": true, "lseg": true,
	"box": true, "path": true, "polygon": true, "circle": true, "int4range": true, "int8range": true,
	"numrange": true, "tsrange": true, "tstzrange": true, "daterange": true, "regclass": true, "regtype": true,
	"regproc": true, "regprocedure": true, "regoper": true, "regoperator": true, "regnamespace": true,
	"regrole": true, "regcollation": true, "regconfig": true, "regdictionary": true, "pg_lsn": true,
	"txid_snapshot": true, "pg_snapshot": true, "xid": true, "xid8": true, "cid": true, "tid": true,
	"jsonpath": true, "int2vector": true, "oidvector": true, "bit": true, "varbit": true, "timetz": true,
	"timestamptz": true, "int2": true, "int4": true, "int8": true, "float4": true, "float8": true, "bool": true,
	"varchar": true, "bpchar": true, "char": true,
}

// noteNode notes what one node of the tree tells of the whole text:
// whether it names something without its schema (Qualified), holds a
// string constant (HasStrings), or a constant read under a setting
// (SettingsFree, analysis_settings.go).
func (a *Analysis) noteNode(n any) {
	a.unqualified = a.unqualified || unqualified(n)
	a.strings = a.strings || isString(n)
	a.noteSettings(n) // analysis_settings.go
}

// isString: m is a string constant (a label or name PostgreSQL may turn
// into an OID when it analyses the text: Analysis.HasStrings).
func isString(m any) bool {
	c, ok := m.(*pg_query.A_Const)
	return ok && c.GetSval() != nil
}
