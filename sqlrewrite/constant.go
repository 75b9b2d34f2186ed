package sqlrewrite

import (
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// StringConstant decodes a string constant written as E'…' (backslash
// escapes: psycopg 3's client-side binding and libpq's PQescapeLiteral
// write a string holding a backslash so) or $tag$…$tag$, as PostgreSQL's
// own lexer reads it. lit is the constant's text as LiteralSpans finds
// it. A plain '…' is the proxy's to decode, but for one continued over
// a newline ('078'<newline>'-05-1120' is one constant, '078-05-1120', and
// one span), which is decoded here too; U&'…' is not decoded, since
// a UESCAPE clause after it, outside lit, would change its meaning. A
// value that is not valid UTF-8 (an escape giving a lone byte) or holds
// a NUL is not decoded either: PostgreSQL would reject it.
func StringConstant(lit []byte) ([]byte, bool) {
	if len(lit) < 2 || !(lit[0] == 'E' || lit[0] == 'e') && lit[0] != '$' && lit[0] != '\'' {
		return nil, false
	}
	tree, err := pg_query.Parse("SELECT " + string(lit))
	if err != nil || len(tree.GetStmts()) != 1 {
		return nil, false
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	if sel == nil || len(sel.GetTargetList()) != 1 || len(sel.GetFromClause()) > 0 {
		return nil, false
	}
	sv := sel.GetTargetList()[0].GetResTarget().GetVal().GetAConst().GetSval()
	if sv == nil {
		return nil, false
	}
	v := sv.GetSval()
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return nil, false
	}
	return []byte(v), true
}
