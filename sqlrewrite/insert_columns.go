package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// WithColumnList gives `INSERT INTO t VALUES (...)` on a table with
// encrypted columns the column list PostgreSQL would use: the table's
// first k columns in attribute order, k the length of the VALUES rows.
// The planner needs the list to know which value goes to which encrypted
// column; the proxy knows the columns from its catalog (columns) and asks
// here before planning. It returns the text with the list written in
// before VALUES (or OVERRIDING), and false when the statement is not such
// an INSERT, its table is not one protected table, or its rows cannot be
// matched to columns — the planner then refuses it as before.
//
// It parses sql itself: an analysis may come from the shape cache, whose
// tree and offsets are another text's of the same shape.
func WithColumnList(sql string, pol *policy.Policy, columns func(policy.TableName) []string) (string, bool) {
	tree, err := pg_query.Parse(sql)
	if err != nil || pol == nil || len(tree.GetStmts()) != 1 {
		return "", false
	}
	ins := tree.GetStmts()[0].GetStmt().GetInsertStmt()
	if ins == nil || len(ins.GetCols()) > 0 {
		return "", false
	}
	src := ins.GetSelectStmt().GetSelectStmt()
	if src == nil || len(src.GetValuesLists()) == 0 || src.GetOp() != pg_query.SetOperation_SETOP_NONE {
		return "", false
	}
	rv := ins.GetRelation()
	t := tableFor(pol, rv.GetSchemaname(), rv.GetRelname())
	if t == nil {
		return "", false
	}
	k := len(src.GetValuesLists()[0].GetList().GetItems())
	for _, row := range src.GetValuesLists() {
		if len(row.GetList().GetItems()) != k {
			return "", false
		}
	}
	cols := columns(t.Name)
	if k == 0 || k > len(cols) {
		return "", false
	}
	at, ok := valuesKeyword(sql, int(rv.GetLocation()))
	if !ok {
		return "", false
	}
	quoted := make([]string, k)
	for i, c := range cols[:k] {
		quoted[i] = policy.QuoteIdentifier(c)
	}
	return sql[:at] + "(" + strings.Join(quoted, ", ") + ") " + sql[at:], true
}

// tableFor is the one protected table a relation names: by schema, or,
// unqualified, the only protected table of that name.
func tableFor(pol *policy.Policy, schema, name string) *policy.ProtectedTable {
	if schema != "" {
		t, _ := pol.Table(schema, name)
		return t
	}
	if ts := pol.TablesNamed(name); len(ts) == 1 {
		return ts[0]
	}
	return nil
}

// valuesKeyword is where the INSERT's OVERRIDING or VALUES keyword starts,
// the first after the relation at from (at no parenthesis depth).
func valuesKeyword(sql string, from int) (int, bool) {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return 0, false
	}
	depth := 0
	for _, tok := range res.GetTokens() {
		if int(tok.GetStart()) < from {
			continue
		}
		word := strings.ToUpper(sql[tok.GetStart():tok.GetEnd()])
		switch {
		case word == "(":
			depth++
		case word == ")":
			depth--
		case depth == 0 && (word == "VALUES" || word == "OVERRIDING"):
			return int(tok.GetStart()), true
		}
	}
	return 0, false
}

// WithCopyColumnList gives `COPY t FROM STDIN` or `COPY t TO STDOUT` on a
// protected table the column list the proxy lines the data's fields up
// with (columns: its catalog's, generated ones left out as COPY leaves
// them). Written out, PostgreSQL follows the same names: a catalog gone
// stale under another session's DDL (a column dropped before an
// encrypted one and another added after it) makes the COPY fail on a
// missing column instead of sending a field into the encrypted column
// that phiguard took for another and left plaintext. false when the
// statement is not such a COPY.
func WithCopyColumnList(sql string, pol *policy.Policy, columns func(policy.TableName) []string) (string, bool) {
	tree, err := pg_query.Parse(sql)
	if err != nil || pol == nil || len(tree.GetStmts()) != 1 {
		return "", false
	}
	cp := tree.GetStmts()[0].GetStmt().GetCopyStmt()
	if cp == nil || cp.GetQuery() != nil || len(cp.GetAttlist()) > 0 || cp.GetRelation() == nil {
		return "", false
	}
	rv := cp.GetRelation()
	t := tableFor(pol, rv.GetSchemaname(), rv.GetRelname())
	if t == nil {
		return "", false
	}
	cols := columns(t.Name)
	at, ok := relationEnd(sql, int(rv.GetLocation()))
	if !ok || len(cols) == 0 {
		return "", false
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = policy.QuoteIdentifier(c)
	}
	return sql[:at] + " (" + strings.Join(quoted, ", ") + ")" + sql[at:], true
}

// relationName is rv's name as the statement names it (catalog and schema
// when written), each part quoted as needed, for to_regclass to resolve
// as the statement did: the text as written would not do, a comment
// inside a qualified name or a U&"..." identifier being no name
// to_regclass reads.
func relationName(rv *pg_query.RangeVar) string {
	name := policy.QuoteIdentifier(rv.GetRelname())
	if rv.GetSchemaname() != "" {
		name = policy.QuoteIdentifier(rv.GetSchemaname()) + "." + name
		if rv.GetCatalogname() != "" {
			name = policy.QuoteIdentifier(rv.GetCatalogname()) + "." + name
		}
	}
	return name
}

// relationEnd is where a relation name starting at from ends: its name
// tokens joined by dots.
func relationEnd(sql string, from int) (int, bool) {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return 0, false
	}
	end, wantName := -1, true
	for _, tok := range res.GetTokens() {
		if int(tok.GetStart()) < from {
			continue
		}
		dot := sql[tok.GetStart():tok.GetEnd()] == "."
		switch {
		case wantName && !dot:
			end, wantName = int(tok.GetEnd()), false
		case !wantName && dot:
			wantName = true
		default:
			return end, end >= 0 && !wantName
		}
	}
	return end, end >= 0 && !wantName
}
