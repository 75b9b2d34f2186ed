package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// CREATE TABLE AS and SELECT INTO store their query's rows in a new
// table. An encrypted column in that query's output would be copied as
// its cells, into a column the policy does not protect: phiguard then
// serves a cell read from it whole as a stray cell (refused), but a value
// the database computes from it (length(s), s LIKE ..., a CHECK, an
// index) is computed on the ciphertext: SELECT length(s) FROM the copy
// answered 65 where the plaintext database answers 6
// (TestRedTeam32cComputedOnCopiedCells). So such a statement is refused
// before it runs, TEMP or not, whatever the new table's name (a table the
// policy lists under it would not be the one PostgreSQL makes: a TEMP
// one, or one in another schema of the search path). A copy WITH NO DATA
// copies no cell and runs, and so does one of plain columns only.
// CREATE MATERIALIZED VIEW AS is not refused: the catalog read after it
// lists the view as one that reads an encrypted column, which every
// statement naming it is refused for (docs/catalog.md).

// copiedCells is the end of the refusal's message: why, and what to do.
const copiedCells = " (its cells would be copied into a table the policy does not protect, where the database computes on the ciphertext; " +
	"make the table under a policy that protects the column, and copy into it with INSERT ... SELECT)"

// createTableAs plans CREATE TABLE AS and CREATE MATERIALIZED VIEW AS.
func (p *planner) createTableAs(c *pg_query.CreateTableAsStmt) {
	if c.GetObjtype() == pg_query.ObjectType_OBJECT_MATVIEW || c.GetInto().GetSkipData() {
		// The query runs in the database, on the cells: planned as any
		// SELECT that is not the client's own, what cannot run on them
		// is refused (an ORDER BY on an encrypted column would pick and
		// order the rows by ciphertext; phiguard sorts only a top-level
		// SELECT's).
		p.query(c.GetQuery(), nil, roleClient)
		return
	}
	p.copyQuery(c.GetQuery(), "CREATE TABLE AS")
}

// copyQuery plans the query of CREATE TABLE AS or SELECT INTO: as a
// SELECT that is not the client's own (it may not sort in the proxy),
// whose output may not hold an encrypted column.
func (p *planner) copyQuery(q *pg_query.Node, construct string) {
	p.copying = construct
	p.query(q, nil, roleCopy)
	p.copying = ""
}
