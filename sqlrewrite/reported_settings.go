package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// DatetimeConstantsFree reports whether text, the text phiguard would
// prepare for plan reuse (guard/plan_reuse.go), holds no string constant
// with a digit but for phiguard's own bytea ones (a term, a token array:
// `'…'::pg_catalog.bytea`, `…::pg_catalog.bytea[]`), arrays of
// integers (`'{20,21,23}'`), phiguard's markers
// (`'phiguard_native_changed:…'`, which no date or time input accepts)
// and the arrival rank of its hidden columns (`'0' AS "phiguard hidden"`). A date, time or
// interval constant is read under DateStyle, TimeZone or IntervalStyle
// when the text is analysed (the type of a bare '2020-01-02' is its
// context's, timestamptz beside such a column), and a configuration
// reload of one reaches the backend before the command that follows it
// but is reported only after that command: the first execution of a
// reused plan after it would keep the old reading
// (TestRedTeam33aDateStyleReload). The client's constants compared with
// an encrypted column are not in that text (terms stand for them), so
// the search statements keep their plan. Text the scanner rejects holds
// such constants, as far as plan reuse goes.
func DatetimeConstantsFree(text string) bool {
	res, err := pg_query.Scan(text)
	if err != nil {
		return false
	}
	toks := res.GetTokens()
	for i, tok := range toks {
		if tok.GetToken() != pg_query.Token_SCONST {
			continue
		}
		if c := text[tok.GetStart():tok.GetEnd()]; !strings.ContainsAny(c, "0123456789") || integerArray(c) || strings.HasPrefix(c, "'phiguard_") {
			continue
		}
		if !byteaCast(text, toks[i+1:]) && !hiddenConstant(text, toks[i+1:]) {
			return false
		}
	}
	return true
}

// integerArray: a constant '{20,21,23}' (sort_native.go's type OIDs),
// digits and commas in braces, which no date or time input reads.
func integerArray(c string) bool {
	return strings.HasPrefix(c, "'{") && strings.Trim(c, "'{},0123456789") == ""
}

// hiddenConstant: the tokens after a string constant name it a hidden
// column of phiguard's ('0' AS "phiguard hidden", sort_arrival.go's
// arrival rank: a select list's text).
func hiddenConstant(text string, after []*pg_query.ScanToken) bool {
	return len(after) >= 2 && after[0].GetToken() == pg_query.Token_AS &&
		text[after[1].GetStart():after[1].GetEnd()] == `"`+hiddenAlias+`"`
}

// byteaCast: the tokens after a string constant cast it to
// pg_catalog.bytea (or an array of it).
func byteaCast(text string, after []*pg_query.ScanToken) bool {
	if len(after) < 4 || after[0].GetToken() != pg_query.Token_TYPECAST {
		return false
	}
	word := func(t *pg_query.ScanToken) string { return text[t.GetStart():t.GetEnd()] }
	return word(after[1]) == "pg_catalog" && word(after[2]) == "." && word(after[3]) == "bytea"
}
