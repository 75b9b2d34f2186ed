package sqlrewrite

import pg_query "github.com/pganalyze/pg_query_go/v5"

// literalTokens are the scanner tokens PostgreSQL uses for constants.
var literalTokens = map[pg_query.Token]bool{
	pg_query.Token_ICONST:  true,
	pg_query.Token_FCONST:  true,
	pg_query.Token_SCONST:  true,
	pg_query.Token_USCONST: true,
	pg_query.Token_BCONST:  true,
	pg_query.Token_XCONST:  true,
}

// verifyShape reports whether PostgreSQL's own scanner finds exactly the
// literals appendShape found, at the same places. Only then may the text's
// analysis be shared with every other text of its shape.
func verifyShape(sql string, spans []literalSpan) bool {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return false
	}
	i := 0
	for _, tok := range res.Tokens {
		if !literalTokens[tok.Token] {
			continue
		}
		if i >= len(spans) || int(tok.Start) != spans[i].start || int(tok.End) != spans[i].end {
			return false
		}
		i++
	}
	return i == len(spans)
}
