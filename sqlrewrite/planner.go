package sqlrewrite

import (
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// PlanFor decides what the proxy must do with an analysed text under a
// policy (see docs/design/encryption-path.md). It is pure and its result
// depends only on the text's shape and the policy, so it can be cached with
// the analysis, keyed by policy version.
//
// It fails closed: a text that did not parse but names no table is left
// alone, one that did not parse is refused when the policy protects
// anything it could touch, and every construct the planner does not model
// on a protected column is refused.
func PlanFor(a *Analysis, pol *policy.Policy) *Plan { return planWith(a, pol, nil) }

// planWith is PlanFor taking, where facts is not nil, which inner
// tables have a column of a name from the catalog (PlanKnowing).
func planWith(a *Analysis, pol *policy.Policy, facts ColumnFacts) *Plan {
	if pol == nil {
		return &Plan{}
	}
	if a.Err != nil {
		if len(pol.Tables()) == 0 {
			return &Plan{}
		}
		// pg_query is PostgreSQL's own parser, so the backend would most
		// likely reject the text too; but an unanalysed statement must not
		// reach a database with protected tables, so phiguard answers.
		return &Plan{Protected: true, Refusal: &Refusal{Code: pgerr.SyntaxError,
			Construct: "phiguard cannot analyse this statement: " + a.Err.Error()}}
	}
	tree := a.syntax()
	if tree == nil {
		return &Plan{Protected: true, Refusal: &Refusal{Code: pgerr.InternalError,
			Construct: "phiguard could not parse this statement again"}}
	}
	p := &planner{pol: pol, plan: &Plan{}, sql: a.sql, checks: catalogChecks{facts: facts}}
	p.literals = literalStarts(a.sql)
	p.single = len(tree.GetStmts()) == 1
	for i, raw := range tree.GetStmts() {
		if encryptsAnything(pol) {
			if r := p.sessionRefusal(raw.GetStmt(), a.Statements[i]); r != nil {
				p.plan.Protected, p.plan.Refusal, p.plan.Values = true, r, nil
				break
			}
		}
		if !p.touchesProtected(a.Statements[i]) {
			continue
		}
		p.plan.Protected = true
		if r := p.ambiguousName(a.Statements[i]); r != nil {
			p.plan.Refusal, p.plan.Values = r, nil
			break
		}
		if p.plan.Copy != nil {
			p.refuseTable(p.plan.Copy.Table, "COPY together with other statements in one query")
		}
		p.bindRelations(raw.GetStmt(), a.Statements[i].withQueries)
		if facts != nil {
			p.checks.sortNames = bareSortNames(raw.GetStmt()) // scope_qualify.go
		}
		p.statement(raw.GetStmt())
		if p.plan.Copy != nil && len(tree.GetStmts()) > 1 && p.plan.Refusal == nil {
			p.refuseTable(p.plan.Copy.Table, "COPY together with other statements in one query")
		}
		if p.plan.Refusal != nil {
			p.plan.Values, p.plan.Sort, p.plan.Operators = nil, nil, nil
			break
		}
	}
	p.itemForms() // planner_operator_guard.go
	// The probes first: a qualifier cut where the WHERE's first name is
	// glued to the keyword (WHERE"tag") is at the probes' point, and
	// insertions at one point keep their order (Splice); after it, the
	// probe split the qualifier from its name (red team 39).
	p.probeCuts()     // scope_probe.go
	p.qualifierCuts() // scope_qualify.go
	// Set on a refused plan too: the refusal may rest on a name the
	// catalog binds elsewhere, and the guard then plans again knowing
	// it (guard.Session.planOf).
	p.plan.Unshadowed, p.plan.Notation, p.plan.Shadowed = p.checks.lack, p.checks.have, p.checks.shadowed // scope_columns.go
	p.plan.DefaultsUnguarded = len(p.plan.Defaults) > 0 && p.plan.Refusal == nil && !defaultsGuardable(tree)
	if cap(p.plan.Values) > len(p.plan.Values) {
		// The plan is cached with the analysis: hold no append slack.
		p.plan.Values = slices.Clone(p.plan.Values)
	}
	return p.plan
}

// encryptsAnything says whether the policy encrypts any column.
func encryptsAnything(pol *policy.Policy) bool {
	for _, t := range pol.Tables() {
		if len(t.Columns) > 0 {
			return true
		}
	}
	return false
}

type planner struct {
	pol      *policy.Policy
	plan     *Plan
	literals map[int]int // byte offset of a literal → its index among the text's literals
	params   map[int]int // byte offset of a $n token → its index among them; built on first use
	sql      string
	// insertSources is, per output position of an INSERT's SELECT, the
	// protected column it copies (nil for anything else).
	insertSources []*policy.ProtectedColumn
	// subject is where the subject id of the row being written comes
	// from, while planning the values of one INSERT row or one UPDATE;
	// subjectWhy says why it is unknown when it is nil.
	subject    *SubjectRef
	subjectWhy string
	// literalSpans and scanned are the text's literals and tokens, for
	// folding constants written with a cast or a sign (planner_fold.go).
	literalSpans [][2]int
	scanned      []*pg_query.ScanToken
	// single is true for a text of one statement, and sortTop while
	// that statement's own SELECT is being planned: only it may sort by
	// an encrypted column in the proxy (planner_sort.go).
	single, sortTop bool
	// aggregating is true while the WHERE of a select list of
	// aggregates phiguard may compute is planned (planner_aggregate.go).
	aggregating bool
	// having is true while a HAVING's min or max comparison is read as a
	// filter (planner_having_minmax.go): = and <> on a deterministic
	// column are phiguard's there too, the HAVING being cut from the text.
	having bool
	// hoisted are the comparisons of the statement being planned whose
	// operator check PostgreSQL hoists to the top of the plan when it
	// stands beside them (planner_operator_guard.go); copyWhere is true
	// while a COPY's WHERE is planned, where no sub-SELECT may stand.
	hoisted   map[*pg_query.A_Expr]bool
	copyWhere bool
	// copying names the statement whose query is planned as roleCopy
	// (planner_ddl_copy.go), for its refusal.
	copying string
	// plainLeaf is true while a plaintext leaf of a WHERE or HAVING tree
	// the proxy evaluates is planned (planPlainLeaves): RewriteSort sends
	// it as a hidden column, where a comparison folded to NULL empties no
	// plan, and checks it is a column compared with constants.
	plainLeaf bool
	// bound says which relation names of the statement being planned
	// name a WITH query (bind_relations.go), and cteRels what each WITH
	// query planned so far exposes.
	bound   relationBinding
	cteRels map[*pg_query.CommonTableExpr]*relation
	// checks are what the plan leaves to the catalog (scope_columns.go), and
	// outputs the columns of each SELECT planned (derivedColumns).
	checks  catalogChecks
	outputs map[*pg_query.SelectStmt]relationColumns
	// probeCounts are the WHEREs the proxy filters, each with where the
	// count of lack probes put first in it goes (scope_probe.go).
	probeCounts []probeCount
	// filtered is the statement's own SELECT whose WHERE the proxy may
	// filter (whereFilters): its probes are the SortPlan's.
	filtered *pg_query.SelectStmt
}

// sourceColumn is the protected column a select-list entry copies as it
// is, or nil.
func (p *planner) sourceColumn(t *pg_query.ResTarget, sc *scope) *policy.ProtectedColumn {
	ref := t.GetVal().GetColumnRef()
	if ref == nil {
		return nil
	}
	if kind, col := sc.resolve(ref); kind == refColumn {
		return col
	}
	return nil
}

// touchesProtected reports whether a statement names a protected table,
// schema-qualified or not (search_path is not trusted, so a bare name that
// matches a protected table in any schema counts).
func (p *planner) touchesProtected(st Statement) bool {
	for _, t := range st.Tables {
		if p.table(t.Schema, t.Name) != nil {
			return true
		}
	}
	return false
}

// ambiguousName refuses a statement that names, without a schema, a
// table the policy protects in more than one schema. search_path decides
// which one PostgreSQL uses; phiguard does not trust it and would plan
// the statement for the first one (table), whose protected columns and
// keys are another table's: a value written into the other table's
// encrypted column went in as plaintext.
func (p *planner) ambiguousName(st Statement) *Refusal {
	for _, t := range st.Tables {
		if t.Schema != "" {
			continue
		}
		if ts := p.pol.TablesNamed(t.Name); len(ts) > 1 {
			names := make([]string, len(ts))
			for i, pt := range ts {
				names[i] = pt.Name.String()
			}
			return &Refusal{Code: pgerr.FeatureNotSupported, Table: strings.Join(names, ", "),
				Message: "the policy protects a table named " + policy.QuoteIdentifier(t.Name) + " in more than one schema (" + strings.Join(names, ", ") +
					"), and phiguard does not follow search_path to tell which one this statement means: qualify the name with its schema"}
		}
	}
	return nil
}

func (p *planner) table(schema, name string) *policy.ProtectedTable {
	if schema != "" {
		t, _ := p.pol.Table(schema, name)
		return t
	}
	if ts := p.pol.TablesNamed(name); len(ts) > 0 {
		return ts[0]
	}
	return nil
}

func (p *planner) refuse(col *policy.ProtectedColumn, construct string) {
	if p.plan.Refusal != nil {
		return
	}
	r := &Refusal{Code: pgerr.FeatureNotSupported, Column: col, Construct: construct}
	if col != nil {
		r.Table = col.Table.Name.String()
	}
	p.plan.Refusal = r
}

func (p *planner) refuseTable(t *policy.ProtectedTable, construct string) {
	if p.plan.Refusal == nil {
		p.plan.Refusal = &Refusal{Code: pgerr.FeatureNotSupported, Table: t.Name.String(), Construct: construct}
	}
}

func (p *planner) statement(n *pg_query.Node) {
	p.hoisted = hoistedConjuncts(n) // planner_operator_guard.go
	switch {
	case n.GetSelectStmt().GetIntoClause() != nil:
		p.copyQuery(n, "SELECT INTO") // planner_ddl_copy.go
	case n.GetSelectStmt() != nil:
		p.sortTop = p.single
		p.query(n, nil, roleClient)
	case n.GetInsertStmt() != nil:
		p.insert(n.GetInsertStmt())
	case n.GetUpdateStmt() != nil:
		p.update(n.GetUpdateStmt())
	case n.GetDeleteStmt() != nil:
		p.delete(n.GetDeleteStmt())
	case n.GetCopyStmt() != nil:
		p.copyStmt(n.GetCopyStmt())
	case n.GetDeclareCursorStmt() != nil:
		// The cursor's rows reach the client by FETCH, whose
		// RowDescription PostgreSQL gives the cursor query's column
		// origins: the query is planned as the SELECT it is, and they are
		// decrypted like the SELECT's own.
		p.query(n.GetDeclareCursorStmt().GetQuery(), nil, roleClient)
	default:
		kind := classify(n)
		if kind == KindDDL {
			p.ddl(n)
			return
		}
		p.refuseTable(p.firstProtected(n), kind.String()+" statement")
	}
}

func (p *planner) firstProtected(n *pg_query.Node) *policy.ProtectedTable {
	var found *policy.ProtectedTable
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if rv, ok := m.Interface().(*pg_query.RangeVar); ok && found == nil {
			found = p.table(rv.Schemaname, rv.Relname)
		}
	})
	return found
}

// role is how a query's output columns are consumed, which decides whether
// a protected column may appear bare in its select list.
type role uint8

const (
	roleClient  role = iota // rows go to the client: decrypted via RowDescription origins
	roleDerived             // a FROM subquery or CTE: outputs carry their protection outward
	roleExists              // EXISTS (...): outputs are never looked at
	roleValue               // scalar, IN, ANY, ARRAY subqueries: outputs are used as values
	roleInsert              // the SELECT of INSERT ... SELECT: outputs are stored, by position
	roleCopy                // the query of CREATE TABLE AS or SELECT INTO: outputs are stored in a new table
)

// query plans a SELECT (or VALUES, or a set operation) and returns the
// protected columns its output exposes by name.
func (p *planner) query(n *pg_query.Node, outer *scope, r role) map[string]*policy.ProtectedColumn {
	top := p.sortTop // only the statement's own SELECT may sort in the proxy
	p.sortTop = false
	s := n.GetSelectStmt()
	if s == nil {
		// A data-modifying WITH (INSERT/UPDATE/DELETE ... RETURNING inside
		// another statement) is not planned yet: refuse it on protected
		// tables rather than let its values through unencrypted.
		if t := p.firstProtected(n); t != nil {
			p.refuseTable(t, "a data-modifying statement inside another statement")
			return nil
		}
		p.expr(n, p.newScope(outer), ctxOther("subquery"))
		return nil
	}
	sc := p.newScope(outer)
	sc.sel = s // scope_probe.go
	p.with(s.GetWithClause(), sc)
	if s.GetOp() != pg_query.SetOperation_SETOP_NONE {
		for _, side := range []*pg_query.SelectStmt{s.GetLarg(), s.GetRarg()} {
			outs := p.query(&pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: side}}, sc, roleDerived)
			for _, c := range outs {
				p.refuse(c, "UNION, INTERSECT or EXCEPT")
			}
		}
		return nil
	}
	for _, row := range s.GetValuesLists() {
		p.expr(row, sc, ctxOther("VALUES"))
	}
	for _, item := range s.GetFromClause() {
		p.fromItem(item, sc, outer)
	}
	return p.selectBody(s, sc, r, top)
}

// selectBody plans a SELECT whose FROM is planned into sc: its select
// list, WHERE, GROUP BY, HAVING, ORDER BY and windows.
func (p *planner) selectBody(s *pg_query.SelectStmt, sc *scope, r role, top bool) map[string]*policy.ProtectedColumn {
	p.outputs[s] = derivedColumns(s, sc) // scope_outputs.go
	outs := map[string]*policy.ProtectedColumn{}
	var positions []*policy.ProtectedColumn
	aggs, groupKeys := p.aggregateShapes(s, sc, top) // planner_aggregate.go
	shaped := aggs != nil || groupKeys != nil
	for _, t := range s.GetTargetList() {
		if shaped {
			break // planned below, once the WHERE says whether phiguard computes them
		}
		p.target(t.GetResTarget(), sc, r, outs)
		if r == roleInsert {
			positions = append(positions, p.sourceColumn(t.GetResTarget(), sc))
		}
	}
	if r == roleInsert {
		p.insertSources = positions
	}
	distinct := len(s.GetDistinctClause()) > 0
	for _, d := range s.GetDistinctClause() {
		if d.GetNode() != nil { // DISTINCT ON (exprs)
			p.expr(d, sc, ctxGroup)
		}
	}
	proxyDistinct := distinct && p.distinctInProxy(s, sc, top, outs) // planner_distinct.go
	p.aggregating = shaped
	filters, conjuncts := p.whereFilters(s, sc, top) // planner_filter.go
	p.aggregating = false
	if shaped && p.aggregatesInProxy(s, sc, aggs, groupKeys, filters, conjuncts) {
		return outs
	}
	for _, t := range s.GetTargetList() {
		if !shaped {
			break // planned above
		}
		p.target(t.GetResTarget(), sc, r, outs)
	}
	p.groupBy(s, sc) // planner_group.go
	p.expr(s.GetHavingClause(), sc, ctxOther("HAVING"))
	p.orderBy(s, sc, top, filters, conjuncts, proxyDistinct) // planner_sort.go
	for _, w := range s.GetWindowClause() {
		p.expr(w, sc, ctxOther("WINDOW"))
	}
	return outs
}

// bindRelations binds the relation names of one statement of the text
// (bind_relations.go) before it is planned; with no WITH clause, none
// names a WITH query.
func (p *planner) bindRelations(stmt *pg_query.Node, withQueries bool) {
	p.bound = nil
	if withQueries {
		p.bound = bindRelations(stmt.ProtoReflect())
	}
	p.cteRels = map[*pg_query.CommonTableExpr]*relation{}
	p.outputs = map[*pg_query.SelectStmt]relationColumns{}
	p.checks.outputs = p.outputs // scope_qualify.go
}

// with plans a WITH clause's queries, recording what each exposes for
// the relation names bound to it.
func (p *planner) with(w *pg_query.WithClause, sc *scope) {
	for _, c := range w.GetCtes() {
		cte := c.GetCommonTableExpr()
		rel := &relation{name: cte.GetCtename()}
		if w.GetRecursive() {
			p.cteRels[cte] = rel // the recursive term may name itself
		}
		rel.outputs = p.query(cte.GetCtequery(), sc, roleDerived)
		rel.columns = renamed(p.queryColumns(cte.GetCtequery()), cte.GetAliascolnames())
		if len(cte.GetAliascolnames()) > 0 && len(rel.outputs) > 0 {
			p.refuse(anyColumn(rel.outputs), "renaming an encrypted column in a WITH column list")
		}
		p.cteRels[cte] = rel
	}
}

// cteRelation is the WITH query rv names, as planned so far, or nil
// when rv names a table. A WITH query named before it is planned (no
// statement planned in order does) exposes what the recursive term
// does: nothing known yet.
func (p *planner) cteRelation(rv *pg_query.RangeVar) *relation {
	cte := p.bound.cte(rv)
	if cte == nil {
		return nil
	}
	if rel := p.cteRels[cte]; rel != nil {
		return rel
	}
	return &relation{}
}

// queryColumns are the output columns of a planned query (the left arm's
// of a set operation), for a FROM item or WITH query made of it.
func (p *planner) queryColumns(n *pg_query.Node) relationColumns {
	s := n.GetSelectStmt()
	for s != nil && s.GetOp() != pg_query.SetOperation_SETOP_NONE {
		s = s.GetLarg()
	}
	if cols, ok := p.outputs[s]; ok && s != nil {
		return cols
	}
	return relationColumns{unnamed: true} // a data-modifying statement's RETURNING
}

// fromItem adds one FROM entry to sc. Non-LATERAL subqueries see only the
// enclosing levels, not their siblings.
func (p *planner) fromItem(n *pg_query.Node, sc, outer *scope) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		name := rv.GetRelname()
		if a := rv.GetAlias(); a != nil {
			name = a.GetAliasname()
		}
		rel := &relation{name: name}
		if cte := p.cteRelation(rv); cte != nil {
			rel.outputs, rel.columns = cte.outputs, renamed(cte.columns, rv.GetAlias().GetColnames())
		} else {
			// An alias's column list renames the table's first columns,
			// which phiguard does not know: of its names only the list's
			// are certain (TestRedTeam36AliasColumnList).
			rel.table, rel.columns = p.table(rv.GetSchemaname(), rv.GetRelname()), renamed(tableColumns(rv), rv.GetAlias().GetColnames())
		}
		if a := rv.GetAlias(); a != nil && len(a.GetColnames()) > 0 && len(rel.protectedColumns()) > 0 {
			p.refuse(rel.protectedColumns()[0], "renaming columns in a table alias")
		}
		sc.relations = append(sc.relations, rel)
	case n.GetJoinExpr() != nil:
		p.joinItem(n.GetJoinExpr(), sc, outer)
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		see := outer
		if rs.GetLateral() {
			see = sc
		}
		rel := &relation{name: rs.GetAlias().GetAliasname()}
		rel.outputs = p.query(rs.GetSubquery(), see, roleDerived)
		rel.columns = renamed(p.queryColumns(rs.GetSubquery()), rs.GetAlias().GetColnames())
		if len(rs.GetAlias().GetColnames()) > 0 && len(rel.outputs) > 0 {
			p.refuse(anyColumn(rel.outputs), "renaming columns in a subquery alias")
		}
		sc.relations = append(sc.relations, rel)
	case n.GetRangeTableSample() != nil:
		// A sampled table is the table: its columns bind, are read
		// and compared as anywhere else (before, it fell to the default
		// and its encrypted columns were unknown names, so a constant
		// compared with one reached the database and length() ran on
		// cells).
		ts := n.GetRangeTableSample()
		p.fromItem(ts.GetRelation(), sc, outer)
		for _, a := range append(ts.GetArgs(), ts.GetRepeatable()) {
			p.expr(a, sc, ctxOther("TABLESAMPLE")) // PostgreSQL refuses a column here too
		}
	default: // functions in FROM, XMLTABLE, ...: check their arguments
		p.expr(n, sc, ctxOther("FROM item"))
		sc.relations = append(sc.relations, functionRelation(n)) // scope_outputs.go
	}
}

// joinItem adds a JOIN's tables to sc, or, under an alias, the one
// relation the alias names.
func (p *planner) joinItem(j *pg_query.JoinExpr, sc, outer *scope) {
	first := len(sc.relations)
	p.fromItem(j.GetLarg(), sc, outer)
	left := len(sc.relations)
	p.fromItem(j.GetRarg(), sc, outer)
	if j.GetIsNatural() {
		p.naturalJoin(sc.relations[first:left], sc.relations[left:]) // planner_operator_guard.go
	}
	if j.GetAlias() != nil {
		for _, r := range sc.relations {
			if len(r.protectedColumns()) > 0 {
				p.refuse(r.protectedColumns()[0], "a JOIN with an alias")
				break
			}
		}
	}
	for _, u := range j.GetUsingClause() {
		if c := joinedColumn(sc.relations[first:], u.GetString_().GetSval()); c != nil && !byCell(c) {
			p.refuse(c, "JOIN USING")
		} else if c != nil {
			// Its = is resolved through search_path like any
			// (operator_guard.go), and USING has no place for the
			// check: ON a.col = b.col has.
			p.refuse(c, "JOIN USING (write ON with = instead: phiguard checks which operator = is there)")
		}
	}
	// ON sees the join's members and the enclosing levels, not the
	// items before the join at its level (PostgreSQL's
	// transformJoinOnClause; TestJoinConditionSkipsSiblings,
	// TestRedTeam36JoinOnSeesItsTables, TestRedTeam36JoinOnScope).
	p.expr(j.GetQuals(), onScope(sc, first), ctxOther("JOIN condition")) // scope.go
	if u := usingAlias(j); u != nil {
		sc.relations = append(sc.relations, u) // scope_qualify.go
	}
	if a := j.GetAlias(); a != nil {
		// An alias hides the tables it joins from everything but
		// their own ON conditions: a.col past it binds to an
		// enclosing level's a (TestRedTeam35JoinAliasHidesQualifier).
		joined := slices.Clone(sc.relations[first:])
		sc.relations = append(sc.relations[:first], &relation{name: a.GetAliasname(),
			columns: renamed(relationColumns{starFrom: joined}, a.GetColnames())})
	}
}

// target plans one select-list entry.
func (p *planner) target(t *pg_query.ResTarget, sc *scope, r role, outs map[string]*policy.ProtectedColumn) {
	val := t.GetVal()
	ref := val.GetColumnRef()
	if ref == nil {
		p.expr(val, sc, ctxOther("an expression in the select list"))
		return
	}
	kind, col := sc.resolve(ref)
	switch kind {
	case refPlain:
		return
	case refAmbiguous:
		p.refuse(col, "an unqualified column name that could be encrypted (qualify it with its table)")
		return
	case refWholeRow:
		p.refuse(firstColumn(sc), "a whole-row reference")
		return
	case refStar:
		if r == roleCopy {
			p.refuse(firstColumn(sc), p.copying+" of * over a table with encrypted columns"+copiedCells)
		}
		if r == roleValue || r == roleInsert {
			p.refuse(firstColumn(sc), "* in a subquery used as a value")
		}
		if r == roleDerived {
			for _, rel := range starRelations(ref, sc) { // q.* may be an outer level's q
				for _, c := range rel.protectedColumns() {
					outs[c.Name] = c
				}
			}
		}
		return
	}
	if r == roleValue {
		p.refuse(col, "using an encrypted column as a subquery's value")
		return
	}
	if r == roleInsert {
		return // checked against its destination by insert()
	}
	if r == roleCopy {
		p.refuse(col, p.copying+" of an encrypted column"+copiedCells)
		return
	}
	name := t.GetName()
	if name == "" {
		fields := ref.GetFields()
		name = fields[len(fields)-1].GetString_().GetSval()
	}
	outs[name] = col
}
