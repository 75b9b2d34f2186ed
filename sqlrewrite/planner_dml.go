package sqlrewrite

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// targetScope is the scope of a DML statement: its target table (under its
// alias), plus whatever the statement's FROM/USING adds.
func (p *planner) targetScope(rv *pg_query.RangeVar, with *pg_query.WithClause) (*scope, *policy.ProtectedTable) {
	sc := p.newScope(nil)
	p.with(with, sc)
	t := p.table(rv.GetSchemaname(), rv.GetRelname())
	name := rv.GetRelname()
	if a := rv.GetAlias(); a != nil {
		name = a.GetAliasname()
	}
	sc.relations = append(sc.relations, &relation{name: name, table: t})
	return sc, t
}

func (p *planner) insert(s *pg_query.InsertStmt) {
	sc, t := p.targetScope(s.GetRelation(), s.GetWithClause())
	var cols []*policy.ProtectedColumn // per position in the column list; nil = unprotected
	for _, c := range s.GetCols() {
		var pc *policy.ProtectedColumn
		if t != nil {
			pc, _ = t.Column(c.GetResTarget().GetName())
		}
		if pc != nil && len(c.GetResTarget().GetIndirection()) > 0 {
			p.refuse(pc, "assigning to part of an encrypted column")
		}
		cols = append(cols, pc)
	}
	if t != nil && len(cols) == 0 && s.GetSelectStmt() != nil {
		p.refuseTable(t, "INSERT without a column list")
		return
	}
	p.omittedColumns(t, cols)
	subjectAt := -1 // position of the subject column in the column list
	if t != nil && t.SubjectColumn != "" {
		for i, c := range s.GetCols() {
			if c.GetResTarget().GetName() == t.SubjectColumn {
				subjectAt = i
			}
		}
	}
	defer func() { p.subject, p.subjectWhy = nil, "" }()
	src := s.GetSelectStmt().GetSelectStmt()
	switch {
	case src == nil: // DEFAULT VALUES
	case len(src.GetValuesLists()) > 0 && src.GetOp() == pg_query.SetOperation_SETOP_NONE && len(src.GetFromClause()) == 0:
		for _, row := range src.GetValuesLists() {
			items := row.GetList().GetItems()
			p.subject, p.subjectWhy = nil, "the INSERT does not list the subject column"
			if subjectAt >= 0 && subjectAt < len(items) {
				p.subject = p.subjectValue(items[subjectAt])
				p.subjectWhy = "the row's subject is not a literal or parameter"
			}
			for i, v := range items {
				if i < len(cols) && cols[i] != nil {
					p.writeValue(v, cols[i], nil, "INSERT")
				} else {
					p.expr(v, p.newScope(nil), ctxOther("VALUES"))
				}
			}
		}
	default: // INSERT ... SELECT
		p.insertSources = nil
		p.query(s.GetSelectStmt(), sc.parent, roleInsert)
		p.insertSelect(cols, p.insertSources)
	}

	if oc := s.GetOnConflictClause(); oc != nil {
		// EXCLUDED is the row proposed for insertion: its protected columns
		// hold the cells this statement is about to write.
		// The row DO UPDATE changes may belong to another subject than the
		// row proposed, so no value is sealed for it.
		p.subject, p.subjectWhy = nil, "ON CONFLICT DO UPDATE changes an existing row whose subject the statement does not name"
		for _, e := range oc.GetInfer().GetIndexElems() {
			p.expr(e.GetIndexElem().GetExpr(), sc, ctxOther("ON CONFLICT"))
		}
		// EXCLUDED is visible in DO UPDATE's SET and WHERE only, not in
		// the conflict target nor in RETURNING (PostgreSQL's
		// transformOnConflictClause).
		update := &scope{parent: sc.parent, relations: append(slices.Clone(sc.relations), &relation{name: "excluded", table: t}), checks: sc.checks}
		p.assignments(oc.GetTargetList(), update, t, "ON CONFLICT DO UPDATE")
		p.expr(oc.GetWhereClause(), update, ctxOther("ON CONFLICT ... WHERE"))
	}
	p.returning(s.GetReturningList(), sc)
}

func (p *planner) update(s *pg_query.UpdateStmt) {
	sc, t := p.targetScope(s.GetRelation(), s.GetWithClause())
	for _, f := range s.GetFromClause() {
		p.fromItem(f, sc, nil)
	}
	if t != nil && t.SubjectColumn != "" {
		p.subject = p.subjectFromWhere(s.GetWhereClause(), t, targetName(s.GetRelation()))
		p.subjectWhy = "the UPDATE's WHERE clause does not pin the subject column to one literal or parameter"
		for _, n := range s.GetTargetList() {
			if n.GetResTarget().GetName() == t.SubjectColumn {
				p.subject, p.subjectWhy = nil, "the UPDATE changes the subject column itself"
			}
		}
		defer func() { p.subject, p.subjectWhy = nil, "" }()
	}
	p.assignments(s.GetTargetList(), sc, t, "UPDATE")
	p.expr(s.GetWhereClause(), sc, ctxOther("WHERE"))
	p.returning(s.GetReturningList(), sc)
}

func (p *planner) delete(s *pg_query.DeleteStmt) {
	sc, _ := p.targetScope(s.GetRelation(), s.GetWithClause())
	for _, f := range s.GetUsingClause() {
		p.fromItem(f, sc, nil)
	}
	p.expr(s.GetWhereClause(), sc, ctxOther("WHERE"))
	p.returning(s.GetReturningList(), sc)
}

// assignments plans SET col = value lists of UPDATE and ON CONFLICT.
func (p *planner) assignments(targets []*pg_query.Node, sc *scope, t *policy.ProtectedTable, stmt string) {
	for _, n := range targets {
		rt := n.GetResTarget()
		var col *policy.ProtectedColumn
		if t != nil {
			col, _ = t.Column(rt.GetName())
			p.subjectChange(t, rt.GetName())
		}
		switch {
		case col == nil:
			if mar := rt.GetVal().GetMultiAssignRef(); mar != nil {
				// Every target of SET (a, b) = source holds the same
				// source (PostgreSQL's grammar shares one node; the parse
				// tree pg_query gives has a copy per target): plan it
				// once, else its values are planned twice at one place
				// and the guard refuses the two edits of one parameter.
				if mar.GetColno() == 1 {
					p.expr(mar.GetSource(), sc, ctxOther("SET (...) ="))
				}
			} else {
				p.expr(rt.GetVal(), sc, ctxOther("SET"))
			}
		case len(rt.GetIndirection()) > 0 || rt.GetVal().GetMultiAssignRef() != nil:
			p.refuse(col, "assigning to an encrypted column in a multiple-column SET or by subscript")
		default:
			p.writeValue(rt.GetVal(), col, sc, stmt)
		}
	}
}

// omittedColumns: the protected columns an INSERT leaves out (all of
// them for DEFAULT VALUES) take their default, which PostgreSQL would
// store unencrypted: each is planned as a DEFAULT, which the proxy allows
// only for a column without a default (it becomes NULL).
func (p *planner) omittedColumns(t *policy.ProtectedTable, listed []*policy.ProtectedColumn) {
	if t == nil {
		return
	}
	for _, c := range t.Columns {
		if !slices.Contains(listed, c) {
			p.plan.Defaults = append(p.plan.Defaults, c)
		}
	}
}

// defaultsGuardable: a text whose encrypted columns left to their
// defaults the default guard can check in the statement
// (GuardNoDefaults): one INSERT ... VALUES, UPDATE or COPY.
func defaultsGuardable(tree *pg_query.ParseResult) bool {
	if len(tree.GetStmts()) != 1 {
		return false
	}
	st := tree.GetStmts()[0].GetStmt()
	if ins := st.GetInsertStmt(); ins != nil {
		return len(ins.GetSelectStmt().GetSelectStmt().GetValuesLists()) > 0
	}
	return st.GetUpdateStmt() != nil || st.GetCopyStmt() != nil
}

// subjectChange refuses a write of the subject column of a table whose
// randomized cells are sealed per subject: the row's cells would stay
// sealed for the old subject, and the proxy fails every read of them
// together with the new subject (XX001, guard/protect_bind.go).
func (p *planner) subjectChange(t *policy.ProtectedTable, name string) {
	if name != t.SubjectColumn || !slices.ContainsFunc(t.Columns, (*policy.ProtectedColumn).PerSubject) {
		return
	}
	p.refuseTable(t, "changing the subject column "+t.SubjectQualifiedName()+
		" (the row's cells sealed per subject would stay sealed for the old subject and then read as an integrity error; delete the row and insert it again for the new subject)")
}

// writeValue plans a value stored into a protected column: a literal or
// parameter is encrypted, NULL stays NULL, and a reference to the very
// same column (SET ssn = ssn, SET ssn = EXCLUDED.ssn) copies a cell that is
// already right. Anything computed is refused: its result would be
// plaintext, or ciphertext bound to another column.
func (p *planner) writeValue(v *pg_query.Node, col *policy.ProtectedColumn, sc *scope, stmt string) {
	if v.GetSetToDefault() != nil {
		// Allowed only where the column has no default (it becomes NULL);
		// the proxy checks that against the catalog.
		p.plan.Defaults = append(p.plan.Defaults, col)
		return
	}
	if ref := v.GetColumnRef(); ref != nil && sc != nil {
		if kind, same := sc.resolve(ref); kind == refColumn && same == col {
			if col.PerSubject() && stmt == "ON CONFLICT DO UPDATE" {
				// EXCLUDED's cell is sealed for the proposed row's subject,
				// which need not be the existing row's.
				p.refuse(col, "copying a cell sealed per subject into a row of possibly another subject (ON CONFLICT DO UPDATE)")
			}
			return
		}
	}
	if v.GetTypeCast() != nil && v.GetTypeCast().GetArg().GetCaseExpr() != nil {
		if !p.castCase(v, col, sc, stmt) {
			p.refuse(col, "a value computed by SQL in "+stmt)
		}
		return
	}
	if !p.value(v, col, UseWrite) {
		p.refuse(col, "a value computed by SQL in "+stmt)
	}
}

// returning plans a RETURNING list like a select list whose rows go to
// the client.
func (p *planner) returning(list []*pg_query.Node, sc *scope) {
	outs := map[string]*policy.ProtectedColumn{}
	for _, t := range list {
		p.target(t.GetResTarget(), sc, roleClient, outs)
	}
}

// insertSelect checks what INSERT ... SELECT stores in each column. A cell
// may be copied only where it still decrypts: into its own column, or —
// deterministic cells being bound to their key — into a deterministic
// column with the same key. Any other value for a protected column is
// computed by SQL (plaintext), and a cell copied into an unprotected
// column would be ciphertext nobody can read back; both are refused.
func (p *planner) insertSelect(cols, sources []*policy.ProtectedColumn) {
	for i, dst := range cols {
		var src *policy.ProtectedColumn
		if i < len(sources) {
			src = sources[i]
		}
		switch {
		case dst == nil && src == nil:
		case dst == nil:
			p.refuse(src, "INSERT ... SELECT of an encrypted column into an unprotected one")
		case src == dst && dst.PerSubject():
			p.refuse(dst, "INSERT ... SELECT of cells sealed per subject (each row's cell is sealed under its own subject's key)")
		case src == dst:
		case src != nil && src.Mode == policy.ModeDeterministic && dst.Mode == policy.ModeDeterministic && src.Key == dst.Key && src.Type == dst.Type:
		case src != nil && src.Type != dst.Type:
			// A cell copied as it is keeps its text: PostgreSQL would
			// convert it by the assignment cast (or refuse, 42804).
			p.refuse(dst, "INSERT ... SELECT from "+src.QualifiedName()+", which is of another type ("+src.Type.String()+")")
		case src != nil:
			p.refuse(dst, "INSERT ... SELECT from "+src.QualifiedName()+", which is not under the same deterministic key")
		default:
			p.refuse(dst, "INSERT ... SELECT into an encrypted column (a value computed by SQL)")
		}
	}
	for i := len(cols); i < len(sources); i++ {
		if sources[i] != nil {
			p.refuse(sources[i], "INSERT ... SELECT of an encrypted column into an unprotected one")
		}
	}
}

// targetName is how a DML target is named in its statement: its alias, or
// the table name.
func targetName(rv *pg_query.RangeVar) string {
	if a := rv.GetAlias(); a != nil {
		return a.GetAliasname()
	}
	return rv.GetRelname()
}

// subjectFromWhere finds, among the top-level AND terms of where, one that
// says subject_column = literal or parameter (either way round), the
// column unqualified or qualified by the target's name. Only then does
// every row the UPDATE changes belong to that one subject.
func (p *planner) subjectFromWhere(where *pg_query.Node, t *policy.ProtectedTable, target string) *SubjectRef {
	if where == nil {
		return nil
	}
	if b := where.GetBoolExpr(); b != nil {
		if b.GetBoolop() != pg_query.BoolExprType_AND_EXPR {
			return nil
		}
		for _, arg := range b.GetArgs() {
			if ref := p.subjectFromWhere(arg, t, target); ref != nil {
				return ref
			}
		}
		return nil
	}
	e := where.GetAExpr()
	if e == nil || e.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || funcNameOf(e.GetName()) != "=" {
		return nil
	}
	isSubject := func(n *pg_query.Node) bool {
		ref := n.GetColumnRef()
		if ref == nil {
			return false
		}
		var names []string
		for _, f := range ref.GetFields() {
			if f.GetString_() == nil {
				return false
			}
			names = append(names, f.GetString_().GetSval())
		}
		switch len(names) {
		case 1:
			return names[0] == t.SubjectColumn
		case 2:
			return names[0] == target && names[1] == t.SubjectColumn
		}
		return false
	}
	switch {
	case isSubject(e.GetLexpr()):
		return p.subjectValue(e.GetRexpr())
	case isSubject(e.GetRexpr()):
		return p.subjectValue(e.GetLexpr())
	}
	return nil
}
