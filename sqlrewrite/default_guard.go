package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// An encrypted column left out of an INSERT, or given DEFAULT, takes its
// default, which PostgreSQL would store unencrypted; phiguard allows that
// only for a column whose default is NULL (Plan.Defaults), by its catalog.
// Another session's DDL, straight to the database, can give the column a
// default after the catalog was read, and the statement would store it
// in clear. So, as the column guard does for a filled column list
// (column_guard.go), the statement checks as it runs, under its table's
// lock, that none of those columns has a default (or a generation
// expression) now; if one has, it raises an error whose message holds
// defaultGuardMarker, which the proxy turns into DefaultsAddedRefusal and
// reads its catalog again.

// defaultGuardMarker is in the error the default guard raises.
const defaultGuardMarker = "phiguard_default_added:"

// DefaultsAddedRefusal recognises the default guard's error and returns
// the refusal to send the client instead, naming the table.
func DefaultsAddedRefusal(message string) (*Refusal, bool) {
	i := strings.Index(message, defaultGuardMarker)
	if i < 0 {
		return nil, false
	}
	table := markedTable(message[i+len(defaultGuardMarker):])
	return &Refusal{Code: pgerr.SerializationFailure, Table: table, Construct: "DEFAULT of an encrypted column",
		Message: "an encrypted column of table " + table + " that this statement leaves to its default was given a default since this session read the catalog (DDL in another session), which would be stored unencrypted: nothing was written; run the statement again to have it refused or give the column a value"}, true
}

// GuardNoDefaults adds the default guard to an INSERT ... VALUES or an
// UPDATE that leaves the protected columns cols (all of one table, which
// pol protects) to their defaults. The check goes where the statement
// always evaluates it once: in an INSERT, the first row's value of its
// first encrypted column (DEFAULT there becomes NULL, which it is while
// the guard holds), or, when the list names no encrypted column, the
// first of cols appended with the guard as its value; in an UPDATE, the
// first encrypted column SET to DEFAULT. Values of encrypted columns are
// all text (a cell, a parameter, NULL), as the guard is, so no type
// changes. It returns sql unchanged with false for a statement it cannot
// guard (INSERT ... SELECT, DEFAULT VALUES, an INSERT without a column
// list, which the column guard covers); the caller decides.
func GuardNoDefaults(sql string, pol *policy.Policy, cols []*policy.ProtectedColumn) (string, bool) {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.GetStmts()) != 1 || pol == nil || len(cols) == 0 {
		return sql, false
	}
	stmt := tree.GetStmts()[0].GetStmt()
	var rv *pg_query.RangeVar
	switch {
	case stmt.GetInsertStmt() != nil:
		rv = stmt.GetInsertStmt().GetRelation()
	case stmt.GetUpdateStmt() != nil:
		rv = stmt.GetUpdateStmt().GetRelation()
	default:
		return sql, false
	}
	t := tableFor(pol, rv.GetSchemaname(), rv.GetRelname())
	if t == nil {
		return sql, false
	}
	g := defaultGuard{table: t, named: relationName(rv), cols: cols}
	if ins := stmt.GetInsertStmt(); ins != nil {
		return g.insert(sql, ins)
	}
	return g.update(sql, stmt.GetUpdateStmt())
}

type defaultGuard struct {
	table *policy.ProtectedTable
	named string // the statement's relation, quoted (relationName)
	cols  []*policy.ProtectedColumn
}

// wrap is a CASE that hands on value while no column of cols has a
// default, a generation expression or a type (a domain) with a default,
// which PostgreSQL takes when the column has none of its own; it raises
// otherwise. to_regclass resolves the relation as the statement did; a
// name it does not resolve raises too, since the check would then find
// no column and pass.
func (g defaultGuard) wrap(value string) string {
	names := make([]string, len(g.cols))
	for i, c := range g.cols {
		names[i] = sqlString(c.Name)
	}
	rel := "pg_catalog.to_regclass(" + sqlString(g.named) + ")"
	return "CASE WHEN " + rel + " IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = " + rel +
		" AND a.attname IN (" + strings.Join(names, ", ") + ") AND NOT a.attisdropped AND (a.atthasdef OR a.attgenerated <> '' OR EXISTS (" +
		domainDefault + "))) THEN " + value + " ELSE pg_catalog.current_setting(" + sqlString(defaultGuardMarker+g.table.Name.String()) + ") END"
}

// domainDefault finds a default of the type of pg_attribute a's column:
// a domain's, which a column without its own default takes.
const domainDefault = "SELECT FROM pg_catalog.pg_type ty WHERE ty.oid = a.atttypid AND (ty.typdefaultbin IS NOT NULL OR ty.typdefault IS NOT NULL)"

func (g defaultGuard) insert(sql string, ins *pg_query.InsertStmt) (string, bool) {
	if len(ins.GetCols()) == 0 || len(ins.GetSelectStmt().GetSelectStmt().GetValuesLists()) == 0 {
		return sql, false
	}
	listClose, rows, ok := insertSpans(sql, int(ins.GetRelation().GetLocation()))
	if !ok || len(rows) == 0 {
		return sql, false
	}
	for i, c := range ins.GetCols() {
		if _, enc := g.table.Column(c.GetResTarget().GetName()); !enc {
			continue
		}
		if i >= len(rows[0]) {
			return sql, false
		}
		sp := rows[0][i]
		value := sql[sp[0]:sp[1]]
		if strings.EqualFold(value, "DEFAULT") {
			value = "NULL" // what DEFAULT stores while the guard holds
		}
		return sql[:sp[0]] + g.wrap(value) + sql[sp[1]:], true
	}
	// The list names no encrypted column: add the first left out, with
	// the guard as its first row's value and NULL in the others, which is
	// what leaving it out stores while the guard holds.
	edits := []textEdit{{at: listClose, text: ", " + policy.QuoteIdentifier(g.cols[0].Name)}}
	for r, row := range rows {
		value := "NULL"
		if r == 0 {
			value = g.wrap("NULL")
		}
		edits = append(edits, textEdit{at: row[len(row)-1][1], text: ", " + value})
	}
	return applyInserts(sql, edits), true
}

// update puts the guard in place of the first encrypted column's DEFAULT
// in SET: evaluated for every row updated, and no row takes a default
// when none is.
func (g defaultGuard) update(sql string, up *pg_query.UpdateStmt) (string, bool) {
	for _, n := range up.GetTargetList() {
		rt := n.GetResTarget()
		if _, enc := g.table.Column(rt.GetName()); !enc || rt.GetVal().GetSetToDefault() == nil || len(rt.GetIndirection()) > 0 {
			continue
		}
		at := int(rt.GetVal().GetSetToDefault().GetLocation())
		if at < 0 || at+len("DEFAULT") > len(sql) || !strings.EqualFold(sql[at:at+len("DEFAULT")], "DEFAULT") {
			return sql, false
		}
		return sql[:at] + g.wrap("NULL") + sql[at+len("DEFAULT"):], true
	}
	return sql, false
}
