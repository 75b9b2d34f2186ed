package sqlrewrite

import pg_query "github.com/pganalyze/pg_query_go/v5"

// ParamSpans returns the byte ranges of sql's $n parameter tokens, in text
// order, indexed as plans index them (ValueSlot.Token). Like literal
// indexes, token indexes hold for every text of a shape, where byte
// offsets do not. It runs PostgreSQL's own scanner, once per text
// (span_memo.go); the answer is shared and must not be modified.
func ParamSpans(sql []byte) [][2]int {
	return paramMemo.spans(sql, paramSpans)
}

func paramSpans(sql []byte) [][2]int {
	res, err := pg_query.Scan(string(sql))
	if err != nil {
		return nil
	}
	var out [][2]int
	for _, tok := range res.Tokens {
		if tok.Token == pg_query.Token_PARAM {
			out = append(out, [2]int{int(tok.Start), int(tok.End)})
		}
	}
	return out
}

// paramStarts maps each parameter token's byte offset to its index, as
// ParamSpans indexes them.
func paramStarts(sql string) map[int]int {
	out := map[int]int{}
	for i, sp := range ParamSpans([]byte(sql)) {
		out[sp[0]] = i
	}
	return out
}
