package sqlrewrite

import (
	"sort"
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
	table, ok := markedTable(message, defaultGuardMarker)
	if !ok {
		return nil, false
	}
	return &Refusal{Code: pgerr.SerializationFailure, Table: table, Construct: "DEFAULT of an encrypted column",
		Message: "an encrypted column of table " + table + " that this statement leaves to its default was given a default since this session read the catalog (DDL in another session), which would be stored unencrypted: nothing was written; run the statement again to have it refused or give the column a value"}, true
}

// GuardNoDefaults adds the default guard to an INSERT ... VALUES or an
// UPDATE that leaves the protected columns cols (all of one table, which
// pol protects) to their defaults. The check goes where the statement
// always evaluates it once: in an INSERT, the first row's value of its
// first encrypted column, or, when the list names no encrypted column,
// the first of cols appended with the guard as its value; in an UPDATE,
// the first encrypted column SET to DEFAULT. Every encrypted column's
// DEFAULT (VALUES, ON CONFLICT DO UPDATE, UPDATE) becomes NULL and every
// one of cols left out is appended with NULL, which is what they store
// while the guard holds: the guard reads pg_attribute under the
// statement's snapshot, which in a REPEATABLE READ transaction predates
// DDL committed since, while the defaults PostgreSQL fills in follow
// the catalog as it is now. Values of encrypted columns are
// all text (a cell, a parameter, NULL), as the guard is, so no type
// changes. INSERT ... SELECT and DEFAULT VALUES get the columns left out
// appended with NULL, the first carrying the guard, where their shape
// allows (default_guard_select.go). It returns sql unchanged with false
// for a statement it cannot guard (an INSERT ... SELECT or DEFAULT VALUES
// it has no place in, an INSERT without a column list, which the column
// guard covers); the caller decides. A COPY ...
// FROM STDIN with a column list gets cols added to its list instead
// (copyWithOmitted). It returns
// "" with false for an INSERT ... VALUES or UPDATE it should guard but
// cannot find the place in the text for (VALUES in parentheses): the
// caller refuses it.
//
// orders gives what the session's catalog says of the table's columns
// (nil: nothing): an encrypted column the role may not insert is not
// appended but left to its default, checked in READ COMMITTED only, and
// with no encrypted column to carry the check another column's value
// carries it (guard_slot.go); "" with false when none can.
func GuardNoDefaults(sql string, pol *policy.Policy, cols []*policy.ProtectedColumn, orders func(policy.TableName) ColumnOrder) (string, bool) {
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
	case stmt.GetCopyStmt() != nil:
		return copyWithOmitted(sql, pol, stmt.GetCopyStmt(), cols)
	default:
		return sql, false
	}
	t := tableFor(pol, rv.GetSchemaname(), rv.GetRelname())
	if t == nil {
		return sql, false
	}
	g := defaultGuard{table: t, named: relationName(rv), cols: cols}
	if orders != nil {
		g.order = orders(t.Name)
	}
	if ins := stmt.GetInsertStmt(); ins != nil {
		switch {
		case ins.GetSelectStmt() == nil:
			return g.defaultValues(sql, ins)
		case len(ins.GetSelectStmt().GetSelectStmt().GetValuesLists()) == 0:
			return g.insertSelect(sql, ins)
		}
		return g.insert(sql, ins)
	}
	return g.update(sql, stmt.GetUpdateStmt())
}

type defaultGuard struct {
	table *policy.ProtectedTable
	named string // the statement's relation, quoted (relationName)
	cols  []*policy.ProtectedColumn
	order ColumnOrder // the catalog's types and privileges (guard_slot.go)
	// readCommitted: a column of cols is left to its default, not
	// appended (the role may not insert it): the check holds in READ
	// COMMITTED only.
	readCommitted bool
}

// wrap is a CASE that hands on value while no column of cols has a
// default, a generation expression or a type (a domain) with a default,
// which PostgreSQL takes when the column has none of its own; it raises
// otherwise. to_regclass resolves the relation as the statement did; a
// name it does not resolve raises too, since the check would then find
// no column and pass.
//
// cast types the raises for a value of another type than text
// (typedSlot). With readCommitted it first raises outside READ COMMITTED
// (defaultUncheckedMarker): a column left to its default takes the
// default the catalog has now, and only READ COMMITTED gives the check a
// snapshot taken after the statement locked its table.
func (g defaultGuard) wrap(value, cast string) string {
	names := make([]string, len(g.cols))
	for i, c := range g.cols {
		names[i] = sqlString(c.Name)
	}
	rel := "pg_catalog.to_regclass(" + sqlString(g.named) + ")"
	isolation := ""
	if g.readCommitted {
		isolation = "WHEN pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN pg_catalog.current_setting(" +
			sqlString(defaultUncheckedMarker+g.table.Name.String()) + ")" + cast + " "
	}
	return "CASE " + isolation + "WHEN " + rel + " IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = " + rel +
		" AND a.attname IN (" + strings.Join(names, ", ") + ") AND NOT a.attisdropped AND (" + ColumnHasDefault + " OR a.attgenerated <> '')) THEN " + value + " ELSE pg_catalog.current_setting(" + sqlString(defaultGuardMarker+g.table.Name.String()) + ")" + cast + " END"
}

// ColumnHasDefault is true for the column of pg_attribute a that has a
// default of its own or of its type (a domain's, which a column without
// one takes). The guard and the proxy's catalog read both ask it, so that
// they agree on which columns have one.
const ColumnHasDefault = "(a.atthasdef OR EXISTS (SELECT FROM pg_catalog.pg_type ty WHERE ty.oid = a.atttypid AND (ty.typdefaultbin IS NOT NULL OR ty.typdefault IS NOT NULL)))"

func (g defaultGuard) insert(sql string, ins *pg_query.InsertStmt) (string, bool) {
	values := ins.GetSelectStmt().GetSelectStmt().GetValuesLists()
	if len(ins.GetCols()) == 0 || len(values) == 0 {
		return sql, false
	}
	listClose, rows, ok := insertSpans(sql, int(ins.GetRelation().GetLocation()))
	if !ok || len(rows) != len(values) {
		return "", false
	}
	var edits []textEdit
	guarded := false
	listed := map[string]bool{}
	g.readCommitted = g.leavesUninsertable(ins)
	for i, c := range ins.GetCols() {
		name := c.GetResTarget().GetName()
		if _, enc := g.table.Column(name); !enc {
			continue
		}
		listed[name] = true
		for r, row := range rows {
			if i >= len(row) || len(values[r].GetList().GetItems()) != len(row) {
				return "", false
			}
			value, isDefault := sql[row[i][0]:row[i][1]], values[r].GetList().GetItems()[i].GetSetToDefault() != nil
			if isDefault {
				value = "NULL" // what DEFAULT stores while the guard holds
			}
			if !guarded && r == 0 {
				value, guarded = g.wrap(value, ""), true
			} else if !isDefault {
				continue
			}
			edits = append(edits, textEdit{at: row[i][0], end: row[i][1], text: value})
		}
	}
	omitted, guarded := g.appendOmitted(listClose, rows, listed, guarded)
	edits = append(edits, omitted...)
	if !guarded {
		// No encrypted column carries the check: another value does.
		sp, cast, ok := typedSlot(ins, rows, g.order.Types, g.order.Params)
		if !ok {
			return "", false
		}
		edits = append(edits, textEdit{at: sp[0], end: sp[1], text: g.wrap(sql[sp[0]:sp[1]], cast)})
	}
	conflict, ok := g.conflictDefaults(sql, ins)
	if !ok {
		return "", false
	}
	return applyEdits(sql, append(edits, conflict...)), true
}

// appendOmitted adds each encrypted column of cols the list leaves out,
// with NULL in every row, which is what leaving it out stores while the
// guard holds; the first row's value of the first carries the guard when
// no listed column does. Explicit, NULL stays NULL whatever the guard
// reads: a transaction's snapshot (REPEATABLE READ) predates DDL
// committed since, which the statement's defaults follow.
//
// A column the role may not insert is left out (guard_slot.go); guarded
// says whether a value carries the check now.
func (g defaultGuard) appendOmitted(listClose int, rows [][][2]int, listed map[string]bool, guarded bool) ([]textEdit, bool) {
	var edits []textEdit
	for _, c := range g.cols {
		if listed[c.Name] || !g.order.insertable(c.Name) {
			continue
		}
		listed[c.Name] = true
		edits = append(edits, textEdit{at: listClose, end: listClose, text: ", " + policy.QuoteIdentifier(c.Name)})
		for r, row := range rows {
			value := "NULL"
			if r == 0 && !guarded {
				value, guarded = g.wrap("NULL", ""), true
			}
			end := row[len(row)-1][1]
			edits = append(edits, textEdit{at: end, end: end, text: ", " + value})
		}
	}
	return edits, guarded
}

// leavesUninsertable: the INSERT leaves out a column of cols that the
// role may not insert, which then takes its default.
func (g defaultGuard) leavesUninsertable(ins *pg_query.InsertStmt) bool {
	listed := map[string]bool{}
	for _, c := range ins.GetCols() {
		listed[c.GetResTarget().GetName()] = true
	}
	for _, c := range g.cols {
		if !listed[c.Name] && !g.order.insertable(c.Name) {
			return true
		}
	}
	return false
}

// conflictDefaults makes ON CONFLICT DO UPDATE's SET enc = DEFAULT NULL.
func (g defaultGuard) conflictDefaults(sql string, ins *pg_query.InsertStmt) ([]textEdit, bool) {
	var edits []textEdit
	for _, n := range ins.GetOnConflictClause().GetTargetList() {
		at, found, ok := g.setDefault(sql, n.GetResTarget())
		if !ok {
			return nil, false
		}
		if found {
			edits = append(edits, textEdit{at: at, end: at + len("DEFAULT"), text: "NULL"})
		}
	}
	return edits, true
}

// setDefault is where an encrypted column's SET ... = DEFAULT is (found);
// ok is false when its location does not hold the keyword.
func (g defaultGuard) setDefault(sql string, rt *pg_query.ResTarget) (at int, found, ok bool) {
	if _, enc := g.table.Column(rt.GetName()); !enc || rt.GetVal().GetSetToDefault() == nil || len(rt.GetIndirection()) > 0 {
		return 0, false, true
	}
	at = int(rt.GetVal().GetSetToDefault().GetLocation())
	ok = at >= 0 && at+len("DEFAULT") <= len(sql) && strings.EqualFold(sql[at:at+len("DEFAULT")], "DEFAULT")
	return at, true, ok
}

// update puts the guard in place of the first encrypted column's DEFAULT
// in SET, and NULL in place of the others': evaluated for every row
// updated, and no row takes a default.
func (g defaultGuard) update(sql string, up *pg_query.UpdateStmt) (string, bool) {
	var edits []textEdit
	for _, n := range up.GetTargetList() {
		at, found, ok := g.setDefault(sql, n.GetResTarget())
		if !ok {
			return "", false
		}
		if !found {
			continue
		}
		value := "NULL"
		if len(edits) == 0 {
			value = g.wrap("NULL", "")
		}
		edits = append(edits, textEdit{at: at, end: at + len("DEFAULT"), text: value})
	}
	if len(edits) == 0 {
		return sql, false
	}
	return applyEdits(sql, edits), true
}

// copyWithOmitted adds the encrypted columns cols that a COPY ... FROM
// STDIN's column list leaves out to the end of the list, for the proxy to
// send a NULL field for each in every row (guard/protect_copy.go): no row
// then takes a default, which PostgreSQL would store unencrypted. COPY
// has no place for the guard's check (its WHERE takes no subquery), and
// needs none once nothing is left to a default. "" with false when the
// list's end is not found: the caller refuses the COPY.
func copyWithOmitted(sql string, pol *policy.Policy, cp *pg_query.CopyStmt, cols []*policy.ProtectedColumn) (string, bool) {
	rv := cp.GetRelation()
	if !cp.GetIsFrom() || len(cp.GetAttlist()) == 0 || rv == nil || tableFor(pol, rv.GetSchemaname(), rv.GetRelname()) == nil {
		return sql, false
	}
	listClose, ok := firstParenClose(sql, int(rv.GetLocation()))
	if !ok {
		return "", false
	}
	var added strings.Builder
	for _, c := range cols {
		added.WriteString(", " + policy.QuoteIdentifier(c.Name))
	}
	return sql[:listClose] + added.String() + sql[listClose:], true
}

// applyEdits applies edits (textEdit) in the order of their offsets;
// edits do not overlap. Both guards write their text with it.
func applyEdits(sql string, edits []textEdit) string {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].at < edits[j].at })
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.WriteString(sql[last:e.at])
		b.WriteString(e.text)
		last = max(e.at, e.end)
	}
	b.WriteString(sql[last:])
	return b.String()
}
