package guard

import (
	"slices"
	"strings"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The planner binds an unqualified column name to the innermost query
// level with an item that has a column of that name, as PostgreSQL does;
// but it sees only the encrypted columns of tables. When it takes a name
// for an encrypted column of an outer level, it lists the tables of the
// inner levels that must have no column of that name
// (sqlrewrite.Plan.Unshadowed). The catalog lists, for each name of an
// encrypted column, the relations that have a column of that name, and a
// statement whose inner table has one is refused: PostgreSQL would bind
// the name to that table's column, where phiguard encrypted the constant
// compared with it (TestUnqualifiedNameInnerColumn: 0 rows where
// PostgreSQL answers 30).

// namedLikeQuery lists the relations (and composite types, whose rows
// functions may return) with a column named like an encrypted column of
// pol, and then, in a second statement, the functions whose result may
// have such a column (catalog_functions.go), in rows of twelve fields
// (schema, relation, column; the three as the system caches name that
// column now; the transaction's isolation; then NULLs: no other part of
// the catalog's answer has twelve).
//
// The rows are pg_attribute's in the snapshot of the statement that
// reads them, which inside a REPEATABLE READ or SERIALIZABLE transaction
// is the transaction's: a column another session dropped or renamed, or
// a table it renamed or replaced with a view, after that snapshot was
// still listed, and the plan bound the name to it and sent 't1' in clear
// for the outer encrypted column (TestRedTeam36Sequences: 0 rows where
// PostgreSQL, which binds names on the latest catalog, answers 8).
// pg_identify_object_as_address names the column from the system
// caches, which follow the latest catalog: a row whose names differ
// there marks the read stale (namedStale), and the catalog then is sure
// of no table's columns. Nor do the relation names the read lists tell
// where an unqualified name resolves: a view s.x another session made
// after the snapshot, in a schema of the path before public.x's, took the
// name, and the plan bound tag to public.x's column and sent 't1' in
// clear (TestRedTeam36Sequences). So a read answered inside a
// transaction block of REPEATABLE READ or SERIALIZABLE (namedSnapshot)
// is sure of no unqualified table's column. A column added since is not
// seen (its name was taken for the outer encrypted column: the constant
// encrypted, no row: TestRedTeam36FunctionsAndSnapshot, HOLE).
func namedLikeQuery(pol *policy.Policy) string {
	var names []string
	for name := range encryptedNames(pol) {
		names = append(names, quoteLiteral(name))
	}
	slices.Sort(names)
	if len(names) == 0 {
		names = append(names, "NULL")
	}
	return `SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, a.attname::pg_catalog.text,
  o.n[1], o.n[2], o.n[3], pg_catalog.current_setting('transaction_isolation'), NULL, NULL, NULL, NULL, NULL
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL (SELECT (pg_catalog.pg_identify_object_as_address('pg_catalog.pg_class'::pg_catalog.regclass, c.oid, a.attnum)).object_names) o(n)
  WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
    AND a.attname::pg_catalog.text IN (` + strings.Join(names, ", ") + `);
` + namedLikeFunctionsQuery(names) // a statement of its own: in one UNION, PostgreSQL ran both in parallel workers, 20 ms where the two take 14 (catalog_functions.go)
}

// encryptedNames are the names of pol's encrypted columns, which
// namedLikeQuery asks about.
func encryptedNames(pol *policy.Policy) map[string]bool {
	out := map[string]bool{}
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			out[c.Name] = true
		}
	}
	return out
}

// addNamedLike takes a row of namedLikeQuery.
func (b *catalogBuilder) addNamedLike(v [][]byte) {
	col := string(v[2])
	if kind := string(v[7]); kind == "function" || kind == "returns" {
		b.addNamedFunction(v) // catalog_functions.go
	} else {
		if b.cat.namedLike == nil {
			b.cat.namedLike = map[string][]sqlrewrite.TableName{}
		}
		b.cat.namedLike[col] = append(b.cat.namedLike[col], sqlrewrite.TableName{Schema: string(v[0]), Name: string(v[1])})
	}
	now := string(v[3]) // pg_temp for the session's own temporary schema
	if v[3] == nil || now != string(v[0]) && !tempSchema(now, string(v[0])) || string(v[4]) != string(v[1]) || string(v[5]) != col {
		b.cat.namedStale = true
	}
	if iso := string(v[6]); iso == "repeatable read" || iso == "serializable" {
		b.cat.namedSnapshot = true // cleared when the read was its own transaction (catalogAnswer)
	}
}

// hasColumnNamed says whether table t, as a statement names it (any
// schema when unqualified), may have a column called col.
func (c *catalog) hasColumnNamed(t sqlrewrite.TableName, col string) bool {
	for _, r := range c.namedLike[col] {
		if r.Name == t.Name && (t.Schema == "" || t.Schema == r.Schema || tempSchema(t.Schema, r.Schema)) {
			return true
		}
	}
	return false
}

// TableHasColumn answers the planner (sqlrewrite.ColumnFacts) for a
// name of an encrypted column: sure that t lacks it when no relation of
// t's name has it (hasColumnNamed), sure that t has it when t, in the
// schema written or the first on the session's search path, is listed
// with it; else not sure (pg_temp, a path not read, another name, a
// read that listed a column the latest catalog no longer names so).
func (c *catalog) TableHasColumn(t sqlrewrite.TableName, name string) (has, sure bool) {
	if c == nil {
		return false, false
	}
	if !c.namedAsked[name] || c.namedStale {
		return false, false // namedLikeQuery did not ask for it, or listed what is gone
	}
	if t.Function {
		return false, !c.functionMayHave(t, name) // catalog_functions.go
	}
	if !c.hasColumnNamed(t, name) {
		return false, true
	}
	schema := t.Schema
	if schema == "" && c.namedSnapshot {
		return true, false
	}
	if schema == "" && c.pathRead {
		schema = c.pathSchemaOf(t.Name) // catalog_shadow.go
	}
	if schema == "" || schema == "pg_temp" {
		return true, false
	}
	return slices.Contains(c.namedLike[name], sqlrewrite.TableName{Schema: schema, Name: t.Name}), true
}

// planOf is a statement's plan for this session: the policy's
// (PlanUnder), or, with limits.catalog_binds_names, where the session's
// catalog says an inner table of a subquery may have a column the plan
// took for an outer encrypted one, the plan made knowing the catalog
// (PlanKnowing). That one binds the
// name to the inner table's column where the catalog is sure of it, as
// PostgreSQL does (TestUnqualifiedNameInnerColumn), and is left to
// unshadowedRefusal where it is not.
//
// Not in a Query that changes the search path before a statement naming
// a relation unqualified (SET search_path = s, public; SELECT ...): the
// catalog's path is the one before the Query, and a table it found
// first there may not be the one the statement names (s.x without the
// column: PostgreSQL bound tag to the outer encrypted column, and 't1'
// went in clear, TestRedTeam36Sequences). The plan is PlanUnder's, which
// unshadowedRefusal refuses.
func (s *Session) planOf(a *sqlrewrite.Analysis) *sqlrewrite.Plan {
	plan := a.PlanUnder(s.policy())
	if len(plan.Unshadowed) == 0 || !s.srv.cfg.Limits.CatalogBindsNames || s.pathChangedWithin(a) { // catalog_path_follow.go
		return plan
	}
	cat := s.catalog.Load()
	for _, u := range plan.Unshadowed {
		if has, _ := cat.TableHasColumn(u.Inner, u.Name); has {
			return a.PlanKnowing(s.policy(), cat)
		}
	}
	return plan
}

// unshadowedRefusal refuses a plan that takes an unqualified name for an
// encrypted column of an outer level where an inner table has a column
// of that name, or q.f for a column f that q's protected table lacks
// (column notation: f(q) on the whole row, TestRedTeam35ColumnNotation),
// or either where no catalog was read to tell.
func (c *catalog) unshadowedRefusal(plan *sqlrewrite.Plan) *pgerr.Error {
	for _, n := range plan.Notation {
		if c == nil || !c.protectedHasColumn(n.Table, n.Column) {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"%s.%s names no column of %s, whose columns phiguard encrypts: PostgreSQL reads it as the function %s applied to the whole row, ciphertexts and all, which phiguard cannot run; call it on the columns themselves",
				policy.QuoteIdentifier(n.Qualifier), policy.QuoteIdentifier(n.Column), n.Table, policy.QuoteIdentifier(n.Column))
		}
	}
	for _, u := range plan.Unshadowed {
		if c != nil && c.namedStale {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"column %s is encrypted, and phiguard took the unqualified name %s in a subquery for it, but the catalog it read in this transaction's snapshot lists columns another session changed since, so it cannot tell whether %s has a column %s: run the statement after the transaction, or qualify the name with its table",
				u.Column.QualifiedName(), policy.QuoteIdentifier(u.Name), u.Inner.String(), policy.QuoteIdentifier(u.Name))
		}
		if has, sure := c.TableHasColumn(u.Inner, u.Name); has || !sure {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"column %s is encrypted, and phiguard took the unqualified name %s in a subquery for it, but %s has a column %s too, which PostgreSQL binds the name to: qualify the name with its table",
				u.Column.QualifiedName(), policy.QuoteIdentifier(u.Name), u.Inner.String(), policy.QuoteIdentifier(u.Name))
		}
	}
	for _, u := range plan.Shadowed {
		if has, sure := c.TableHasColumn(u.Inner, u.Name); !has || !sure {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"phiguard bound the unqualified name %s in a subquery to a column of %s, which the catalog no longer lists, and would otherwise take it for the encrypted column %s: prepare the statement again, or qualify the name with its table",
				policy.QuoteIdentifier(u.Name), u.Inner.String(), u.Column.QualifiedName())
		}
	}
	return nil
}

// protectedHasColumn says whether protected table t has a column col, a
// system column included.
func (c *catalog) protectedHasColumn(t policy.TableName, col string) bool {
	if systemColumn(col) {
		return true
	}
	for _, cc := range c.tables[t] {
		if cc.name == col {
			return true
		}
	}
	return false
}

// tempSchema says whether a statement's pg_temp may be the schema named
// in the catalog: the session's temporary schema is pg_temp_N there
// (any session's is taken, to fail closed).
func tempSchema(named, schema string) bool {
	return named == "pg_temp" && strings.HasPrefix(schema, "pg_temp_")
}

// sameMessageDDLRefusal refuses a Query whose plan leaves names to the
// catalog (Plan.Unshadowed, Plan.Notation) when the Query also holds DDL
// (or a DO or CALL, which may run some): the catalog was read before the
// Query, so a table made or altered earlier in it is not there, and its
// column would be taken for the outer encrypted one
// (TestRedTeam35bSameMessageDDL: 0 rows where PostgreSQL answers 60).
func sameMessageDDLRefusal(a *sqlrewrite.Analysis, plan *sqlrewrite.Plan) *pgerr.Error {
	if !plan.LeavesNames() {
		return nil
	}
	for _, st := range a.Statements {
		if st.Kind == sqlrewrite.KindDDL || st.Kind == sqlrewrite.KindCall {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"a statement of this Query takes a column name phiguard checks in the catalog, which DDL earlier in the same Query may change before it runs: send the DDL in a Query of its own, or qualify the name with its table")
		}
	}
	return nil
}

// namesRefusal checks the names a plan leaves to the catalog, at Parse,
// Query and Bind alike: DDL of the session the catalog was not read after
// (ddlUnreadRefusal), then the catalog as it is (unshadowedRefusal).
func (s *Session) namesRefusal(plan *sqlrewrite.Plan) *pgerr.Error {
	if pe := s.ddlUnreadRefusal(plan); pe != nil {
		return pe
	}
	return s.catalog.Load().unshadowedRefusal(plan)
}

// ddlUnreadRefusal refuses a plan that leaves names to the catalog
// (Plan.Unshadowed, Plan.Notation) while DDL of the session went out
// that the catalog was not read after: earlier in the same pipeline
// (the catalog is read at its Sync), where the DDL may have given an
// inner table the name (TestRedTeam35bPipelineDDL: 0 rows where
// PostgreSQL answers 60). Client pump.
func (s *Session) ddlUnreadRefusal(plan *sqlrewrite.Plan) *pgerr.Error {
	if !s.ddlSeen || !plan.LeavesNames() {
		return nil
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"a statement takes a column name phiguard checks in the catalog, which DDL earlier in the same pipeline may have changed, and phiguard reads the catalog only after the pipeline's Sync: send the DDL with a Sync of its own, or qualify the name with its table")
}
