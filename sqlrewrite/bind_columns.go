package sqlrewrite

import "slices"

// Column names are bound by one rule for every reader of a statement: the
// encryption planner (scope, relation) and the access rewriter
// (accessScope, accessRel) both call bindColumnName and namedItem here,
// each on its own query levels, and read what they need of the item the
// name lands on (an encrypted column; a column rule). Two rules once
// disagreed: the planner bound an unqualified name at the innermost level
// that had it, the access rewriter at any level with a restricted column
// of that name, so a subquery's own plain column named like an outer
// masked one was refused for the role (TestBindColumnNameOneRule).

// columnItem is a FROM item as the binder sees it: its name, and whether
// it has a column of a given name.
type columnItem interface {
	comparable
	// itemName is the name the item is referred to by (its alias, or
	// the table's own name); "" for an item without one.
	itemName() string
	// inSchema says whether schema.name can name the item: only a table
	// can, of that schema (or named without one: search_path finds it).
	// A subquery or WITH query of that name is skipped, and the name
	// binds to an enclosing level's table (TestSchemaQualifiedSkipsDerived).
	inSchema(schema string) bool
	// hasColumn says whether the item has a column called name:
	// certainly (yes), or not unless one of the tables in unless has one
	// (their columns are not known here), or perhaps (opaque: nothing
	// phiguard reads tells).
	hasColumn(name string) (yes bool, unless []TableName, opaque bool)
}

// nameLevel is one query level of FROM items, and the level that
// encloses it (the zero value past the outermost).
type nameLevel[L any, I columnItem] interface {
	comparable
	levelItems() []I
	enclosing() L
}

// columnBinding is where an unqualified column name binds.
type columnBinding[I columnItem] struct {
	// items are the items of the innermost level with a column of that
	// name that have one (more than one is PostgreSQL's "ambiguous"
	// unless a JOIN merged them); none when no level has the name.
	items []I
	// unless are the tables of inner levels that must lack the name for
	// the binding to hold; opaque says an item of an inner level may
	// have it for all phiguard can tell.
	unless []TableName
	opaque bool
	// tied says another item of the binding level may have the name
	// too, for all phiguard can tell (PostgreSQL would then answer
	// "ambiguous"); for bindingTrace.
	tied bool
}

// bindColumnName binds an unqualified column name as PostgreSQL does
// (parse_relation.c, colNameToVar): at the innermost level, starting
// from inner, with an item that has a column of that name.
func bindColumnName[L nameLevel[L, I], I columnItem](inner L, name string) columnBinding[I] {
	var b columnBinding[I]
	var past L
	for lvl := inner; lvl != past; lvl = lvl.enclosing() {
		var lvlUnless []TableName
		lvlOpaque := false
		for _, it := range lvl.levelItems() {
			yes, u, o := it.hasColumn(name)
			if yes {
				b.items = append(b.items, it)
				continue
			}
			lvlUnless, lvlOpaque = append(lvlUnless, u...), lvlOpaque || o
		}
		if len(b.items) > 0 {
			b.tied = len(lvlUnless) > 0 || lvlOpaque
			return b
		}
		b.unless, b.opaque = append(b.unless, lvlUnless...), b.opaque || lvlOpaque
	}
	return b
}

// namedItem finds the item a qualifier names, [schema.]name, as
// PostgreSQL does (refnameNamespaceItem): the innermost level's first,
// and with a schema, only an item in it.
func namedItem[L nameLevel[L, I], I columnItem](inner L, schema, name string) (item I, ok bool) {
	var past L
	for lvl := inner; lvl != past; lvl = lvl.enclosing() {
		for _, it := range lvl.levelItems() {
			if it.itemName() == name && (schema == "" || it.inSchema(schema)) {
				return it, true
			}
		}
	}
	return item, false
}

// qualifierSchema is the schema of a qualified name whose relation is
// names[len(names)-n] (n is 2 for schema.table.column, 1 for
// schema.table.*): the name before it, or "" when none is written.
func qualifierSchema(names []string, n int) string {
	if len(names) > n {
		return names[len(names)-n-1]
	}
	return ""
}

// bindingEvent is one name a reader bound, for bindingTrace.
type bindingEvent struct {
	reader   string // "planner" or "access"
	location int32  // the ColumnRef's offset in the text
	item     string // the item's name, "" for none (or a nameless item)
	depth    int    // levels with items out from the name's own
	bound    bool   // an item was found
	sure     bool   // no inner item could have had the name instead
}

// bindingTrace, set by tests only (TestOneBindingDifferential), sees
// every column name the two readers bind, to check they agree.
var bindingTrace func(bindingEvent)

// traceColumn reports an unqualified name's binding to bindingTrace.
func traceColumn[L nameLevel[L, I], I columnItem](reader string, inner L, loc int32, b columnBinding[I]) {
	var item I
	if len(b.items) > 0 {
		item = b.items[0]
	}
	sure := !b.opaque && len(b.unless) == 0 && !b.tied
	if len(b.items) > 1 { // PostgreSQL's "ambiguous", or a JOIN's merged column
		bindingTrace(bindingEvent{reader: reader, location: loc, item: "(several)", bound: true, sure: sure})
		return
	}
	traceBinding(reader, inner, loc, item, len(b.items) > 0, sure)
}

// traceBinding reports a binding to bindingTrace.
func traceBinding[L nameLevel[L, I], I columnItem](reader string, inner L, loc int32, item I, bound, sure bool) {
	e := bindingEvent{reader: reader, location: loc, bound: bound, sure: sure}
	if bound {
		e.item = item.itemName()
		var past L
		for lvl := inner; lvl != past; lvl = lvl.enclosing() {
			if slices.Contains(lvl.levelItems(), item) {
				break
			}
			if len(lvl.levelItems()) > 0 { // a level with no item binds nothing
				e.depth++
			}
		}
	}
	bindingTrace(e)
}
