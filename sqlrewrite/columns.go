package sqlrewrite

import (
	"slices"
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// columnNames collects, while a statement is walked, the column names it
// reads and the names it defines itself, for the proxy's check of a
// column another session added to a protected table since this session
// read its catalog (guard/catalog_computed.go): a generated column
// computed from an encrypted column is computed on the ciphertext, and a
// statement that filters or sorts on it, or returns it, answers
// differently from the plaintext database.
type columnNames struct {
	refs, defined []string
	natural       bool
	path          PathChange // search_path.go
	defers, runs  bool       // search_path.go: PREPARE or DECLARE; EXECUTE, FETCH or MOVE
	fromFunc      bool
}

// note takes one node of the walk.
func (c *columnNames) note(m protoreflect.Message) {
	node := m.Interface()
	c.path = max(c.path, pathChange(node))
	switch n := node.(type) {
	case *pg_query.PrepareStmt, *pg_query.DeclareCursorStmt:
		c.defers = true
	case *pg_query.ExecuteStmt, *pg_query.FetchStmt:
		c.runs = true
	case *pg_query.ColumnRef:
		// The last field is the column (t.col, col), or * (t.*, *),
		// or a table's name or alias for a whole-row reference.
		if f := n.GetFields(); len(f) > 0 {
			if s := f[len(f)-1].GetString_(); s != nil {
				c.refs = appendNew(c.refs, s.GetSval())
			}
		}
	case *pg_query.JoinExpr:
		c.natural = c.natural || n.GetIsNatural()
		for _, u := range n.GetUsingClause() {
			c.refs = appendNew(c.refs, u.GetString_().GetSval())
		}
	case *pg_query.ResTarget:
		c.defined = appendNew(c.defined, n.GetName())
	case *pg_query.Alias:
		c.defined = appendNew(c.defined, n.GetAliasname())
		for _, s := range n.GetColnames() {
			c.defined = appendNew(c.defined, s.GetString_().GetSval())
		}
	case *pg_query.ColumnDef:
		// jsonb_to_recordset(...) AS x(a int, b text)
		c.defined = appendNew(c.defined, n.GetColname())
	case *pg_query.RangeTableFuncCol:
		c.defined = appendNew(c.defined, n.GetColname()) // XMLTABLE's COLUMNS
	case *pg_query.SelectStmt:
		// A VALUES list names its columns column1, column2, ...
		if v := n.GetValuesLists(); len(v) > 0 {
			for i := range v[0].GetList().GetItems() {
				c.defined = appendNew(c.defined, "column"+strconv.Itoa(i+1))
			}
		}
	case *pg_query.CommonTableExpr:
		for _, s := range n.GetAliascolnames() {
			c.defined = appendNew(c.defined, s.GetString_().GetSval())
		}
	case *pg_query.RangeFunction:
		// SELECT generate_series FROM generate_series(1, 3): a
		// function in FROM names its column after itself, or after its
		// OUT parameters (jsonb_each's key and value: the proxy's
		// catalog lists those, FromFunction), and WITH ORDINALITY adds
		// ordinality.
		c.fromFunc = true
		if n.GetOrdinality() {
			c.defined = appendNew(c.defined, "ordinality")
		}
		for _, f := range n.GetFunctions() {
			if call := f.GetList().GetItems(); len(call) > 0 {
				if fc := call[0].GetFuncCall(); fc != nil {
					_, name := funcParts(fc.GetFuncname())
					c.defined = appendNew(c.defined, name)
				}
			}
		}
	}
}

// done stores what was collected in st.
func (c *columnNames) done(st *Statement) {
	st.Columns, st.Defined, st.Natural, st.path = c.refs, c.defined, c.natural, c.path
	st.pathDefers, st.pathRuns = c.defers && c.path == PathSet, c.runs
	st.FromFunction = c.fromFunc
}

func appendNew(names []string, name string) []string {
	if name == "" || slices.Contains(names, name) {
		return names
	}
	return append(names, name)
}

// Undefined lists the column names the statement reads that it does not
// define itself (as an output name, an alias or a WITH query's column):
// names of columns of the relations it reads, or names that resolve to
// nothing.
func (s Statement) Undefined() []string {
	var out []string
	for _, c := range s.Columns {
		if !slices.Contains(s.Defined, c) {
			out = append(out, c)
		}
	}
	return out
}
