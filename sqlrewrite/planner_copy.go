package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// CopyPlan is a COPY between the client and a protected table: the proxy
// rewrites the protected fields of each row in the data stream.
type CopyPlan struct {
	Table *policy.ProtectedTable
	// Columns as listed in the statement; empty means all of the table's
	// columns in their order (which only the catalog knows).
	Columns []string
	In      bool // FROM STDIN (else TO STDOUT)
	CSV     bool
	// Binary: FORMAT binary (pgx's CopyFrom): the proxy reads each
	// protected field in as, and writes it out in, the binary form of its
	// column's type.
	Binary bool
	// Options as written; empty means COPY's default for the format.
	Delimiter, Null, Quote, Escape string
	NullSet                        bool // the statement gave NULL (possibly '')
	Header                         bool
}

// copyStmt plans COPY on a protected table. Only the forms whose data
// passes through phiguard can be protected: a table to or from the client,
// in text, CSV or binary. Files and programs on the server and COPY
// (query) are refused.
func (p *planner) copyStmt(c *pg_query.CopyStmt) {
	if c.GetQuery() != nil {
		if t := p.firstProtected(c.GetQuery()); t != nil {
			p.refuseTable(t, "COPY (query)")
		}
		return
	}
	rv := c.GetRelation()
	t := p.table(rv.GetSchemaname(), rv.GetRelname())
	if t == nil {
		return
	}
	if c.GetFilename() != "" || c.GetIsProgram() {
		p.refuseTable(t, "COPY to or from a file or program on the server (only STDIN and STDOUT pass through phiguard)")
		return
	}
	cp := &CopyPlan{Table: t, In: c.GetIsFrom()}
	for _, a := range c.GetAttlist() {
		cp.Columns = append(cp.Columns, a.GetString_().GetSval())
	}
	for _, o := range c.GetOptions() {
		d := o.GetDefElem()
		val := defElemString(d.GetArg())
		switch d.GetDefname() {
		case "format":
			switch strings.ToLower(val) {
			case "text":
			case "csv":
				cp.CSV = true
			case "binary":
				cp.Binary = true
			default:
				p.refuseTable(t, "COPY in "+val+" format")
				return
			}
		case "delimiter":
			cp.Delimiter = val
		case "null":
			cp.Null, cp.NullSet = val, true
		case "quote":
			cp.Quote = val
		case "escape":
			cp.Escape = val
		case "header":
			// As PostgreSQL reads it: true, on and match in any case.
			cp.Header = val == "" || val == "1" || strings.EqualFold(val, "true") || strings.EqualFold(val, "on") || strings.EqualFold(val, "match")
		case "encoding":
			if !isUTF8Name(val) {
				// phiguard reads the rows as bytes, in UTF-8 as the
				// session's client_encoding is held to; in SJIS, BIG5,
				// GBK and the like a character's second byte can be a
				// backslash or a delimiter, and phiguard would cut the
				// fields elsewhere than PostgreSQL (a value passed in
				// clear to an encrypted column).
				p.refuseTable(t, "COPY ... ENCODING "+val+" (only UTF8)")
				return
			}
		case "freeze":
		default: // force_quote, force_null, default, ... change what a field means
			p.refuseTable(t, "the COPY option "+d.GetDefname())
			return
		}
	}
	if cp.In && len(cp.Columns) > 0 {
		// A column list leaves the other columns to their defaults.
		var listed []*policy.ProtectedColumn
		for _, name := range cp.Columns {
			if pc, ok := t.Column(name); ok {
				listed = append(listed, pc)
			}
		}
		p.omittedColumns(t, listed)
	}
	p.copyWhereClause(c, rv, t)
	p.plan.Copy = cp
}

// copyWhereClause plans a COPY FROM's WHERE on table t, where no
// sub-SELECT may stand: its comparisons' checks stay beside them
// (planner_operator_guard.go), evaluated with each row.
func (p *planner) copyWhereClause(c *pg_query.CopyStmt, rv *pg_query.RangeVar, t *policy.ProtectedTable) {
	if c.GetWhereClause() == nil {
		return
	}
	sc := p.newScope(nil)
	sc.relations = append(sc.relations, &relation{name: rv.GetRelname(), table: t})
	p.copyWhere = true
	p.expr(c.GetWhereClause(), sc, ctxOther("COPY ... WHERE"))
	p.copyWhere = false
}

// isUTF8Name reports whether PostgreSQL reads name as UTF8: it ignores
// case and every character but letters and digits, and knows UTF8 also as
// UNICODE.
func isUTF8Name(name string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String() == "utf8" || b.String() == "unicode"
}

func defElemString(n *pg_query.Node) string {
	switch {
	case n == nil:
		return ""
	case n.GetString_() != nil:
		return n.GetString_().GetSval()
	case n.GetBoolean() != nil:
		if n.GetBoolean().GetBoolval() {
			return "true"
		}
		return "false"
	case n.GetInteger() != nil:
		if n.GetInteger().GetIval() != 0 {
			return "true"
		}
		return "false"
	}
	return ""
}
