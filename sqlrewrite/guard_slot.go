package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
)

// A role may hold INSERT on some columns of a table only (GRANT INSERT
// (id, note) ON t). The guards carry their check in the value of an
// encrypted column, which is text like the check, and, when the INSERT
// names none, append one with NULL: PostgreSQL then requires INSERT on
// that column too (42501), where it would accept the client's statement.
// So an encrypted column the role may not insert (ColumnType.NoInsert,
// from the session's catalog) is not appended: it takes its default, and
// the default guard checks, in the statement and under its table's lock,
// that it has none. That check needs a snapshot taken after the lock,
// which READ COMMITTED gives each statement: the guard refuses the
// statement in any other isolation level (defaultUncheckedMarker), where
// the transaction's snapshot may predate a default that PostgreSQL, which
// fills defaults from the catalog as it is now, would store in clear.
//
// With no encrypted column in the list, the check goes into the value of
// another column, wrapped in a CASE whose raise is cast to that column's
// type, which must not change the value's type: only a value whose type
// PostgreSQL takes from the column is wrapped (typedSlot): NULL, a quoted
// literal without a type, a parameter the client left untyped or
// declared with the column's own type, or a CASE a guard made of one. A column of a domain is no slot (a CASE over a
// domain and an untyped value resolves to the domain's base type).
//
// What window remains. In READ COMMITTED none, for the INSERT ... VALUES
// the guards cover: PostgreSQL fills a left-out column's default from the
// catalog as it is once the statement holds its table's lock; a default
// set or changed takes a lock that conflicts with it, so its DDL either
// committed before that lock, and the check's snapshot, taken after it,
// sees it, or waits for the transaction's end. Outside READ COMMITTED
// the statement is refused rather than left a window: closing it would
// take a catalog read that ignores the transaction's snapshot, which
// PostgreSQL offers no SQL function for (the column guard's
// pg_identify_object_as_address reads names only). The shapes no guard
// is put in (INSERT ... SELECT, DEFAULT VALUES, several statements in
// one Query) are checked by the catalog alone, as before; a COPY still
// adds the column (42501 for such a role). The role's privileges come
// from the session's catalog and may be stale; that only decides which
// of the two ways is taken, both closed.

// ColumnType is what the session's catalog says of one column: its type
// as format_type spells it, whether that is a domain, and whether the
// session's role may not INSERT it.
type ColumnType struct {
	Type     string
	OID      uint32
	Domain   bool
	NoInsert bool
}

// defaultUncheckedMarker is in the error the default guard raises outside
// READ COMMITTED when it cannot append a column the role may not insert.
const defaultUncheckedMarker = "phiguard_default_unchecked:"

// DefaultUncheckedRefusal recognises that error and returns the refusal
// to send the client instead, naming the table.
func DefaultUncheckedRefusal(message string) (*Refusal, bool) {
	table, ok := markedTable(message, defaultUncheckedMarker)
	if !ok {
		return nil, false
	}
	return &Refusal{Code: pgerr.FeatureNotSupported, Table: table, Construct: "an encrypted column left to its default outside READ COMMITTED",
		Message: "this statement leaves out an encrypted column of table " + table + " that the role may not insert, so it takes its default; phiguard can check that the column has none only in a READ COMMITTED transaction (in REPEATABLE READ or SERIALIZABLE the transaction's snapshot may predate a default another session set, which would be stored unencrypted): nothing was written; run it under READ COMMITTED, or grant the role INSERT on the column"}, true
}

// insertable reports whether the role may insert column name.
func (o ColumnOrder) insertable(name string) bool {
	return !o.Types[name].NoInsert
}

// typedSlot finds, in the first row of an INSERT ... VALUES, a value of a
// listed column that the guard can wrap with its raise cast to the
// column's type, and returns its span and that cast.
func typedSlot(ins *pg_query.InsertStmt, rows [][][2]int, types map[string]ColumnType, params func(int) uint32) (span [2]int, cast string, ok bool) {
	values := ins.GetSelectStmt().GetSelectStmt().GetValuesLists()
	if len(values) == 0 || len(rows) == 0 {
		return span, "", false
	}
	items := values[0].GetList().GetItems()
	for i, c := range ins.GetCols() {
		ct, known := types[c.GetResTarget().GetName()]
		if !known || ct.Type == "" || ct.Domain || i >= len(items) || i >= len(rows[0]) || len(items) != len(rows[0]) {
			continue
		}
		if sp := rows[0][i]; sp[0] >= 0 && typedByColumn(items[i], ct.OID, params) {
			return sp, "::" + ct.Type, true
		}
	}
	return span, "", false
}

// typedByColumn: a value PostgreSQL gives the type of the column it is
// written to (typ), in the VALUES and in a CASE beside a value of that
// type alike. params gives a parameter's declared type, 0 when untyped.
func typedByColumn(n *pg_query.Node, typ uint32, params func(int) uint32) bool {
	switch {
	case n.GetAConst() != nil:
		c := n.GetAConst()
		return c.GetIsnull() || c.GetSval() != nil
	case n.GetParamRef() != nil:
		if params == nil {
			return false
		}
		declared := params(int(n.GetParamRef().GetNumber()))
		return declared == 0 || declared == typ && typ != 0
	case n.GetCaseExpr() != nil:
		return guardCase(n.GetCaseExpr(), typ, params)
	}
	return false
}

// guardCase: a CASE a guard wrapped around such a value, whose other
// results are its raises (current_setting of a marker, cast).
func guardCase(c *pg_query.CaseExpr, typ uint32, params func(int) uint32) bool {
	if c.GetArg() != nil || c.GetDefresult() == nil || !guardRaise(c.GetDefresult()) {
		return false
	}
	values := 0
	for _, w := range c.GetArgs() {
		r := w.GetCaseWhen().GetResult()
		switch {
		case guardRaise(r):
		case typedByColumn(r, typ, params):
			values++
		default:
			return false
		}
	}
	return values == 1
}

// guardRaise: pg_catalog.current_setting('<a guard's marker>...')::type.
func guardRaise(n *pg_query.Node) bool {
	tc := n.GetTypeCast()
	if tc == nil {
		return false
	}
	fc := tc.GetArg().GetFuncCall()
	if fc == nil || len(fc.GetArgs()) != 1 || len(fc.GetFuncname()) == 0 {
		return false
	}
	name := fc.GetFuncname()[len(fc.GetFuncname())-1].GetString_().GetSval()
	arg := fc.GetArgs()[0].GetAConst().GetSval().GetSval()
	if name != "current_setting" {
		return false
	}
	for _, m := range []string{columnGuardMarker, elsewhereMarker, defaultGuardMarker, defaultUncheckedMarker} {
		if strings.HasPrefix(arg, m) {
			return true
		}
	}
	return false
}
