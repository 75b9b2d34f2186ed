package sqlrewrite

import pg_query "github.com/pganalyze/pg_query_go/v5"

// SplitStatements returns the statements of sql, several separated by
// semicolons, as PostgreSQL's scanner reads them (a semicolon in a
// literal, a quoted name or a comment separates nothing), trimmed; an
// error if it cannot scan sql. For phiguard's own reads, which go one
// Parse per statement (guard/own_messages.go).
func SplitStatements(sql string) ([]string, error) {
	return pg_query.SplitWithScanner(sql, true)
}
