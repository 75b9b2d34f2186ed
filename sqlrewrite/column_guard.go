package sqlrewrite

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// A column list phiguard writes into an INSERT or COPY without one
// (WithColumnList, WithCopyColumnList) comes from the session's catalog,
// which another session's DDL can leave stale: drop a column and add one
// of the same name, and every name still exists while the order has
// changed, so PostgreSQL would follow phiguard's list where the client
// meant the table's new order, and a value meant for an encrypted column
// would land, unencrypted, in another one. Reading the catalog again
// before each statement would leave a window open between the read and
// the statement; the guard closes it inside the statement itself.
//
// ColumnGuard makes the statement check, as it runs, that each listed
// column still has the attribute number and name the catalog gave it.
// The statement holds its table's lock from parse to end, so DDL can no
// longer change the columns between the check and the write. On a
// mismatch the check raises an error whose message holds
// columnGuardMarker; the proxy turns it into ColumnsChangedRefusal and
// reads its catalog again. It also checks that the relation, as the
// statement names it, is the protected table: a bare name can resolve to
// a temporary table or one earlier in search_path, whose columns the
// list does not describe (elsewhereMarker, TableElsewhereRefusal).

// OrderedColumn is one column of a filled list: its attribute number and
// name in the session's catalog.
type OrderedColumn struct {
	Attnum int16
	Name   string
}

// ColumnOrder is what the catalog said of a table when the list was
// filled.
type ColumnOrder struct {
	Table   policy.TableName
	OID     uint32
	Columns []OrderedColumn
	// Types are the columns' types and the role's INSERT privilege, by
	// name (guard_slot.go); nil: every column may be inserted, and no
	// value but an encrypted column's carries a guard.
	Types map[string]ColumnType
	// Params gives the type the client declared for parameter $n in its
	// Parse, 0 for none; nil without parameters (a simple Query).
	Params func(n int) uint32
	// named is the statement's relation, quoted (relationName).
	named string
}

// columnGuardMarker is in the error the guard raises when the columns
// changed, elsewhereMarker when the statement's relation is another table.
const (
	columnGuardMarker = "phiguard_columns_changed:"
	elsewhereMarker   = "phiguard_table_elsewhere:"
)

// TableElsewhereRefusal recognises the guard's error for a relation name
// that resolves, under the session's search_path, to another table than
// the protected one whose columns filled the list (a temporary table of
// that name, or one in a schema earlier in search_path): PostgreSQL would
// follow the other table's order. The catalog is not stale, and running
// the statement again would be refused again.
func TableElsewhereRefusal(message string) (*Refusal, bool) {
	table, ok := markedTable(message, elsewhereMarker)
	if !ok {
		return nil, false
	}
	return &Refusal{Code: pgerr.FeatureNotSupported, Table: table, Construct: "INSERT or COPY without a column list",
		Message: "the statement's table name resolves (search_path, a temporary table) to another table than " + table + ", whose columns phiguard would have written into its missing column list: nothing was written; give the statement a column list, or name the table with its schema"}, true
}

// ColumnsChangedRefusal recognises the guard's error (by its marker) and
// returns the refusal to send the client instead, naming the table.
func ColumnsChangedRefusal(message string) (*Refusal, bool) {
	table, ok := markedTable(message, columnGuardMarker)
	if !ok {
		return nil, false
	}
	return &Refusal{Code: pgerr.SerializationFailure, Table: table, Construct: "INSERT or COPY without a column list",
		Message: "the columns of table " + table + " changed since this session read them (DDL in another session), so phiguard could not tell which value goes to which column: nothing was written; run the statement again (a prepared statement is prepared again at its next execution), or give it a column list"}, true
}

// markedTable is the table name after marker in PostgreSQL's
// `unrecognized configuration parameter "<marker><table>"`, the error a
// guard raises: up to the message's last double quote, as a quoted name
// holds quotes of its own. false when the message has no such marker.
func markedTable(message, marker string) (string, bool) {
	i := strings.Index(message, marker)
	if i < 0 {
		return "", false
	}
	rest := message[i+len(marker):]
	if i := strings.LastIndex(rest, `"`); i >= 0 {
		return rest[:i], true
	}
	return rest, true
}

// markedColumn reads "<what>:<schema>.<table>.<column>" after marker in
// a check's error: what, the column and its table.
func markedColumn(message, marker string) (what, column, table string, ok bool) {
	rest, ok := markedTable(message, marker)
	if !ok {
		return "", "", "", false
	}
	what, column, ok = strings.Cut(rest, ":")
	if !ok {
		return "", "", "", false
	}
	table = column
	if i := strings.LastIndex(column, "."); i > 0 {
		table = column[:i]
	}
	return what, column, table, true
}

// condition is true while every listed column keeps its number and name.
// pg_identify_object_as_address is stable (not folded at plan time) and
// gives the names unquoted; a dropped column's name is PostgreSQL's
// "........pg.dropped.N........", a vanished number gives NULL.
func (o ColumnOrder) condition() string {
	var b strings.Builder
	for i, c := range o.Columns {
		if i > 0 {
			b.WriteString(" AND ")
		}
		fmt.Fprintf(&b, "(pg_catalog.pg_identify_object_as_address(1259::pg_catalog.oid, %d::pg_catalog.oid, %d)).object_names = ARRAY[%s, %s, %s]::pg_catalog.text[]",
			o.OID, c.Attnum, sqlString(o.Table.Schema), sqlString(o.Table.Name), sqlString(c.Name))
	}
	return b.String()
}

// raise is a text expression that fails when evaluated: current_setting
// of a name no setting has (stable, so only evaluated when reached).
func (o ColumnOrder) raise() string {
	return "pg_catalog.current_setting(" + sqlString(columnGuardMarker+o.Table.String()) + ")"
}

// guard is a CASE that hands on value while the statement's relation is
// the table and its columns are unchanged, and raises otherwise; cast
// types the raise's text for the context (COPY's WHERE: bool).
// to_regclass, stable like the rest, resolves the name as the statement
// did, under the same search_path; it is compared with the protected
// table's qualified name, not its OID, so that a table dropped and
// created again counts as changed columns (the catalog is stale), not
// as another table.
func (o ColumnOrder) guard(value, cast string) string {
	return "CASE WHEN pg_catalog.to_regclass(" + sqlString(o.named) + ") IS DISTINCT FROM pg_catalog.to_regclass(" + sqlString(o.Table.String()) + ") THEN pg_catalog.current_setting(" +
		sqlString(elsewhereMarker+o.Table.String()) + ")" + cast + " WHEN " + o.condition() + " THEN " + value + " ELSE " + o.raise() + cast + " END"
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// GuardColumnOrder adds the guard to a statement whose column list was
// filled from order: an INSERT ... VALUES gets the first row's value for
// its first encrypted column wrapped in a CASE that raises unless the
// columns are unchanged (a cell, a parameter or NULL: all text, the
// type of a cell, so the wrap changes no type), or, when the list names
// no encrypted column, the table's first encrypted column appended with
// NULL (what leaving it out stores: phiguard refuses leaving out one
// with a default); a COPY ... FROM STDIN gets the check as (the first
// part of) its WHERE. false when the statement is neither; COPY TO needs
// no guard, since the listed names decide which field phiguard decrypts.
// A statement that needs no guard (COPY TO, or not a filled statement at
// all, such as a refusal's marker) comes back as it is; false means it
// needed one and could not be given one, and must not run.
func GuardColumnOrder(sql string, pol *policy.Policy, orders func(policy.TableName) ColumnOrder) (string, bool) {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.GetStmts()) != 1 || pol == nil {
		return sql, true
	}
	raw := tree.GetStmts()[0]
	ins, cp := raw.GetStmt().GetInsertStmt(), raw.GetStmt().GetCopyStmt()
	var rv *pg_query.RangeVar
	switch {
	case ins != nil:
		rv = ins.GetRelation()
	case cp != nil && cp.GetIsFrom() && cp.GetRelation() != nil:
		rv = cp.GetRelation()
	default:
		return sql, true
	}
	t := tableFor(pol, rv.GetSchemaname(), rv.GetRelname())
	if t == nil {
		return sql, true
	}
	order := orders(t.Name)
	if len(order.Columns) == 0 || order.OID == 0 {
		return "", false
	}
	order.named = relationName(rv)
	if ins != nil {
		return guardInsert(sql, t, order, ins)
	}
	return guardCopy(sql, order)
}

func guardInsert(sql string, t *policy.ProtectedTable, order ColumnOrder, ins *pg_query.InsertStmt) (string, bool) {
	if len(ins.GetCols()) == 0 || len(ins.GetSelectStmt().GetSelectStmt().GetValuesLists()) == 0 {
		return "", false
	}
	listClose, rows, ok := insertSpans(sql, int(ins.GetRelation().GetLocation()))
	if !ok || len(rows) == 0 {
		return "", false
	}
	for i, c := range ins.GetCols() {
		if _, enc := t.Column(c.GetResTarget().GetName()); !enc {
			continue
		}
		if i >= len(rows[0]) {
			return "", false
		}
		sp := rows[0][i]
		value := sql[sp[0]:sp[1]]
		if strings.EqualFold(value, "DEFAULT") {
			value = "NULL" // phiguard refuses DEFAULT where the column has a default
		}
		return sql[:sp[0]] + order.guard(value, "") + sql[sp[1]:], true
	}
	// The list names no encrypted column: add the table's first (in the
	// catalog's order, so one the table has) that the role may insert,
	// with the guard as its first row's value and NULL in the others.
	first := ""
	for _, c := range order.Columns {
		if _, enc := t.Column(c.Name); enc && order.insertable(c.Name) {
			first = c.Name
			break
		}
	}
	if first == "" {
		// It may insert none: the guard wraps another column's value
		// (guard_slot.go); the default guard checks those left out.
		sp, cast, ok := typedSlot(ins, rows, order.Types, order.Params)
		if !ok {
			return "", false
		}
		return sql[:sp[0]] + order.guard(sql[sp[0]:sp[1]], cast) + sql[sp[1]:], true
	}
	edits := []textEdit{{at: listClose, text: ", " + policy.QuoteIdentifier(first)}}
	for r, row := range rows {
		value := "NULL"
		if r == 0 {
			value = order.guard("NULL", "")
		}
		edits = append(edits, textEdit{at: row[len(row)-1][1], text: ", " + value})
	}
	return applyEdits(sql, edits), true
}

// guardCopy puts the check first in a COPY FROM's WHERE.
func guardCopy(sql string, order ColumnOrder) (string, bool) {
	return guardCopyWith(sql, order.guard("true", "::pg_catalog.bool"))
}

// guardCopyWith puts check (a boolean expression) first in a COPY FROM's
// WHERE.
func guardCopyWith(sql, check string) (string, bool) {
	toks, err := pg_query.Scan(sql)
	if err != nil {
		return "", false
	}
	whereEnd, exprStart, end := -1, -1, -1
	for _, tok := range toks.GetTokens() {
		text := sql[tok.GetStart():tok.GetEnd()]
		switch {
		case text == ";" || isComment(tok):
			// The check goes before a trailing comment: after a "--"
			// comment it would be commented out, and the COPY would run
			// unguarded.
		case whereEnd < 0 && strings.EqualFold(text, "WHERE"):
			whereEnd = int(tok.GetEnd())
		case whereEnd >= 0 && exprStart < 0:
			exprStart, end = int(tok.GetStart()), int(tok.GetEnd())
		default:
			end = int(tok.GetEnd())
		}
	}
	switch {
	case end < 0:
		return "", false
	case whereEnd < 0:
		return sql[:end] + " WHERE " + check + sql[end:], true
	case exprStart < 0:
		return "", false
	}
	return sql[:whereEnd] + " " + check + " AND (" + sql[exprStart:end] + ")" + sql[end:], true
}

// insertSpans scans an INSERT with a column list and VALUES, from its
// relation on: where the column list's closing parenthesis is, and the
// start and end of each item of each VALUES row.
func insertSpans(sql string, from int) (listClose int, rows [][][2]int, ok bool) {
	listClose, rows, ok = valuesSpans(sql, from)
	return listClose, rows, ok && listClose >= 0
}

// valuesSpans is insertSpans for an INSERT with or without a column list
// (listClose -1 without).
func valuesSpans(sql string, from int) (listClose int, rows [][][2]int, ok bool) {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return 0, nil, false
	}
	listClose, depth, brackets, inValues := -1, 0, 0, false
	var row [][2]int
	item := [2]int{-1, -1}
	for _, tok := range res.GetTokens() {
		start, end := int(tok.GetStart()), int(tok.GetEnd())
		if start < from || isComment(tok) {
			// A comment is no part of an item: a "--" one at an item's
			// end would comment out what the guard puts after it.
			continue
		}
		text := sql[start:end]
		switch {
		case text == "[":
			brackets++ // ARRAY[a, b]: its commas part no items
		case text == "]":
			brackets--
		case text == "(":
			depth++
			if depth == 1 {
				row, item = nil, [2]int{-1, -1}
				continue
			}
		case text == ")":
			depth--
			if depth == 0 && !inValues {
				listClose = start
			}
			if depth == 0 && inValues {
				rows = append(rows, append(row, item))
				continue
			}
		case depth == 0 && strings.EqualFold(text, "VALUES"):
			inValues = true
			continue
		case depth == 0 && inValues && text == ",":
			continue
		case depth == 0 && inValues:
			return listClose, rows, item[0] >= 0
		case depth == 1 && brackets == 0 && inValues && text == ",":
			row, item = append(row, item), [2]int{-1, -1}
			continue
		}
		if inValues && depth >= 1 {
			if item[0] < 0 {
				item[0] = start
			}
			item[1] = end
		}
	}
	return listClose, rows, len(rows) > 0
}

// isComment: a "--" or "/* */" comment, which pg_query.Scan returns as a
// token. Spans end at the last token that is not one, so that nothing
// phiguard writes after a span lands inside a "--" comment.
func isComment(tok *pg_query.ScanToken) bool {
	return tok.GetToken() == pg_query.Token_SQL_COMMENT || tok.GetToken() == pg_query.Token_C_COMMENT
}

// textEdit replaces sql[at:end] with text; an insertion leaves end at 0
// (or at), replacing nothing.
type textEdit struct {
	at   int
	end  int
	text string
}
