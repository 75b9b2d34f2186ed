package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// relationColumns is what the planner knows of a FROM item's columns
// beyond its protected ones, to bind an unqualified name where PostgreSQL
// does: at the innermost query level with an item that has a column of
// that name. A name bound one level too far out is a different answer:
// in SELECT ... FROM people WHERE EXISTS (SELECT 1 FROM visits WHERE
// tag = 't1'), tag is visits.tag when visits has one, and people.tag,
// encrypted, only when it has not (TestUnqualifiedNameInnerColumn).
type relationColumns struct {
	// table is set for a table named in FROM: its columns are the
	// database's, which the planner does not see (the session's catalog
	// does: Plan.Unshadowed).
	table *TableName
	// names are a derived relation's (subquery, WITH query, VALUES,
	// function with a column list) output names; complete says they are
	// all of them. Otherwise a * passed through the columns of starFrom,
	// or, with starFrom empty, phiguard cannot tell the names at all.
	names    map[string]bool
	complete bool
	starFrom []*relation
	// order lists names by position while complete, for an alias's
	// column list; unnamed says an output's name is one phiguard does
	// not work out (an expression PostgreSQL names by rules of its own).
	order   []string
	unnamed bool
	// function is set for a function called in FROM without a column
	// definition list: its columns are its result's, which the catalog
	// tells (ColumnFacts, Plan.Unshadowed); scalar is the name of its
	// one column should it return a scalar (the alias, or the
	// function's name), and ordinality says WITH ORDINALITY adds one.
	function   *TableName
	scalar     string
	ordinality bool
}

// hasColumn says whether r has a column called name: certainly (yes),
// or not unless one of the tables in unless has one, or perhaps (opaque:
// nothing phiguard reads could tell).
func (r *relation) hasColumn(name string) (yes bool, unless []TableName, opaque bool) {
	c := r.columns
	switch {
	case r.column(name) != nil || c.names[name]:
		return true, nil, false
	case c.complete:
		return false, nil, false
	case c.table != nil:
		return false, []TableName{*c.table}, false
	case c.function != nil:
		if name == c.scalar || c.ordinality && name == "ordinality" {
			return false, nil, true // a scalar result's column, or not
		}
		return false, []TableName{*c.function}, false
	}
	opaque = c.unnamed || len(c.starFrom) == 0
	for _, from := range c.starFrom {
		y, u, o := from.hasColumn(name)
		if y {
			return true, nil, false
		}
		unless, opaque = append(unless, u...), opaque || o
	}
	return false, unless, opaque
}

// Unshadowed is an unqualified name the plan takes for an encrypted
// column of an outer query level, which PostgreSQL binds there only if
// no table of an inner level, Inner, has a column of that name: the
// guard checks the session's catalog before it sends the statement
// (guard/catalog_unshadowed.go), and refuses it when one has.
type Unshadowed struct {
	Name   string
	Inner  TableName
	Column *policy.ProtectedColumn
}

// bindName binds an unqualified name: to the innermost level whose
// items have a column of that name (PostgreSQL's colNameToVar), or, when
// none has, to the whole row of a relation of that name.
// A protected column there is refColumn, with every table of an inner
// level noted in the plan as one that must lack the name; a plain column
// there is refPlain. Two protected columns of one level, or an inner
// item whose columns phiguard cannot tell, are refAmbiguous, refused.
func (s *scope) bindName(name string, loc int32) (refKind, *policy.ProtectedColumn) {
	b := bindColumnName[*scope, *relation](s, name)
	if bindingTrace != nil {
		traceColumn("planner", s, loc, b)
	}
	if len(b.items) == 0 {
		// No level has a column of that name: a bare t that names a
		// relation is its whole row (PostgreSQL tries columns first).
		if r := s.relationNamed(name); r != nil && len(r.protectedColumns()) > 0 {
			return refWholeRow, nil
		}
		return refPlain, nil
	}
	var found *policy.ProtectedColumn
	for _, r := range b.items {
		if c := r.column(name); c != nil {
			if found != nil && found != c {
				return refAmbiguous, found
			}
			found = c
		}
	}
	if found == nil {
		return refPlain, nil
	}
	if r, t, decided := s.innerTable(name, found); decided { // scope_qualify.go
		// The catalog says an inner table has the name: PostgreSQL
		// binds it there, to a plain column, and so must it when the
		// statement runs: the name is sent qualified with the table's
		// (scope_qualify.go), or, where no qualifier names the table
		// alone, refused as before.
		if r != nil && s.qualifyName(r, t, name, loc) {
			return refPlain, nil
		}
		return refAmbiguous, found
	}
	switch {
	case b.opaque:
		return refAmbiguous, found
	case found.Name != name && len(b.unless) > 0:
		// The encrypted column under another name (a subquery's ssn AS
		// label): the catalog lists the tables with a column named like
		// an encrypted column, not those with a label, so it cannot
		// tell that the inner tables lack it (red team 36: count 0 where
		// PostgreSQL binds label to an inner table's plain column).
		return refAmbiguous, found
	}
	s.checks.mustLack(name, b.unless, found)
	s.probeInner(name, b.items) // scope_probe.go
	return refColumn, found
}

// catalogChecks collects what a plan leaves to the session's catalog,
// each once (a name is resolved again by each pass that reads it): the
// inner tables that must lack a name bound further out (Plan.Unshadowed)
// and the protected tables that must have a column q.f names
// (Plan.Notation).
type catalogChecks struct {
	lack     []Unshadowed
	have     []Notation
	lackSeen map[Unshadowed]bool
	haveSeen map[Notation]bool
	// facts, when the plan is made knowing the catalog (PlanKnowing),
	// tell which inner tables have a name; shadowed are the names bound
	// to such a table on its word (Plan.Shadowed).
	facts    ColumnFacts
	shadowed []Unshadowed
	// qualified are those names with the qualifier each is sent with;
	// sortNames are the places of bare names an ORDER BY, GROUP BY or
	// DISTINCT ON item may take for an output column (never qualified).
	qualified []QualifiedName
	sortNames map[int32]sortName
	// probes are the items the text sent checks lack a name
	// (scope_probe.go).
	probes []lackProbe
	// outputs are the planner's output columns of each SELECT
	// (derivedColumns), for a bare ORDER BY name (scope_qualify.go).
	outputs map[*pg_query.SelectStmt]relationColumns
}

// ColumnFacts is what the session's catalog knows of the tables a
// statement names: whether table t, as the statement names it, has a
// column called name. sure is false where the catalog cannot tell (a
// name it was not asked about, a table it cannot resolve exactly).
type ColumnFacts interface {
	TableHasColumn(t TableName, name string) (has, sure bool)
}

// mustLack records that the inner tables must lack name for it to be
// col.
func (c *catalogChecks) mustLack(name string, inner []TableName, col *policy.ProtectedColumn) {
	if c == nil {
		return
	}
	if c.lackSeen == nil {
		c.lackSeen = map[Unshadowed]bool{}
	}
	for _, t := range inner {
		x := Unshadowed{Name: name, Inner: t, Column: col}
		if !c.lackSeen[x] {
			c.lackSeen[x] = true
			c.lack = append(c.lack, x)
		}
	}
}

// mustHave records that the protected table t must have a column col
// for qual.col to be one.
func (c *catalogChecks) mustHave(qual string, t *policy.ProtectedTable, col string) {
	if c == nil {
		return
	}
	n := Notation{Qualifier: qual, Table: t.Name, Column: col}
	if c.haveSeen == nil {
		c.haveSeen = map[Notation]bool{}
	}
	if !c.haveSeen[n] {
		c.haveSeen[n] = true
		c.have = append(c.have, n)
	}
}

// Notation is a qualified name q.f the plan takes for a plain column f
// of protected table Table: PostgreSQL reads it so only if the table has
// a column f; otherwise it is column notation, the function f applied to
// q's whole row, ciphertexts and all (p.to_jsonb ->> 'tag'). The guard
// checks the table's columns in the session's catalog
// (guard/catalog_unshadowed.go).
type Notation struct {
	Qualifier string
	Table     policy.TableName
	Column    string
}

// qualifiedColumn resolves q.col on the relation r that q names: a
// protected column, a plain one, or the whole row (column notation, or
// a name phiguard cannot tell from it).
func (s *scope) qualifiedColumn(r *relation, qual, col string) (refKind, *policy.ProtectedColumn) {
	if c := r.column(col); c != nil {
		return refColumn, c
	}
	if len(r.protectedColumns()) == 0 {
		return refPlain, nil // no ciphertext in its row
	}
	if t := notationTable(r); t != nil {
		s.checks.mustHave(qual, t, col)
		return refPlain, nil
	}
	if yes, _, _ := r.hasColumn(col); yes {
		return refPlain, nil
	}
	return refWholeRow, nil
}

// notationTable is the protected table whose columns r has: r itself,
// or the one table a chain of * passes through.
func notationTable(r *relation) *policy.ProtectedTable {
	for r.table == nil {
		c := r.columns
		if len(c.starFrom) != 1 || len(c.names) > 0 || c.unnamed {
			return nil
		}
		r = c.starFrom[0]
	}
	return r.table
}

// tableColumns is what a table named in FROM, rv, has beyond its
// protected columns: the database's columns.
func tableColumns(rv *pg_query.RangeVar) relationColumns {
	return relationColumns{table: &TableName{Schema: rv.GetSchemaname(), Name: rv.GetRelname()}}
}
