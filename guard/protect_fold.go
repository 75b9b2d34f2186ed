package guard

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Case folding in proxy-side WHERE (sqlrewrite/planner_filter_fold.go):
// ILIKE and lower()/upper() of the column or of a constant. PostgreSQL
// maps case under the LC_CTYPE of the collation that applies (the
// column's for the column and an ILIKE, the database default's for a
// constant); under C and POSIX its lower() and upper() map the ASCII
// letters only, byte by byte (str_tolower with lc_ctype_is_c:
// pg_ascii_tolower), and ILIKE in a UTF8 database is LIKE on lower() of
// both sides (Generic_Text_IC_like). That is what phiguard does; under a
// libc locale (towlower_l, character by character) it calls the same C
// library functions (protect_ctype.go); under any other LC_CTYPE (ICU's
// full mapping, a nondeterministic collation, another C library's
// locale) it refuses the
// statement when the first row brings the probes (0A000), as the sort
// refuses a collation.

// caseMap is lower() or upper() under one LC_CTYPE; it returns its
// argument unchanged, or its mapping in a new slice or in *buf's array
// (grown into *buf), never writing into the argument. A row's value is
// mapped into the run's buffer (foldValue): the mapping had cost an
// allocation per row of an ILIKE (bench/search's first query: 111).
type caseMap func(buf *[]byte, b []byte) []byte

// asciiMap maps the bytes from..from+25 to to..to+25, copying b the
// first time it changes a byte.
func asciiMap(buf *[]byte, b []byte, from, to byte) []byte {
	out, copied := b, false
	for i, c := range b {
		if c >= from && c <= from+25 {
			if !copied {
				*buf = append((*buf)[:0], b...)
				out, copied = *buf, true
			}
			out[i] = c - from + to
		}
	}
	return out
}

func asciiLower(buf *[]byte, b []byte) []byte { return asciiMap(buf, b, 'A', 'a') }
func asciiUpper(buf *[]byte, b []byte) []byte { return asciiMap(buf, b, 'a', 'A') }

// cCaseMaps are lower() and upper() under LC_CTYPE C or POSIX.
var cCaseMaps = map[sqlrewrite.Fold]caseMap{sqlrewrite.FoldLower: asciiLower, sqlrewrite.FoldUpper: asciiUpper}

// foldConstruct names what maps case in f, for a refusal.
func foldConstruct(f sqlrewrite.Filter) string {
	switch {
	case f.ColumnFold == sqlrewrite.FoldLower:
		return "lower()"
	case f.ColumnFold == sqlrewrite.FoldUpper:
		return "upper()"
	case f.Op.ILike():
		return "ILIKE"
	}
	return "lower() or upper() of the constant compared with it"
}

// ctypeMaps are the case mappings of a probe's LC_CTYPE (caseMapsFor,
// protect_ctype.go), or its refusal.
func ctypeMaps(f sqlrewrite.Filter, probe []byte) (map[sqlrewrite.Fold]caseMap, *pgerr.Error) {
	if string(probe) == "shadowed" {
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"WHERE with lower() or upper() on encrypted column %s: the database has a function named lower or upper outside pg_catalog, and phiguard cannot tell which one PostgreSQL would call", f.Column.QualifiedName())
	}
	if maps, ok := caseMapsFor(probe); ok {
		return maps, nil
	}
	return nil, pgerr.Newf(pgerr.FeatureNotSupported,
		"%s on encrypted text column %s under collation %s: phiguard maps case only under the C or POSIX collation (LC_CTYPE), or a libc locale installed where phiguard runs, of the database server's C library version", foldConstruct(f), f.Column.QualifiedName(), localeOf(probe))
}

// prepareFolds checks filter i's LC_CTYPE probes and sets its case
// mappings: of the column's values (fa.colFold, then fa.ilike), and of
// its constants, which it maps here, once: a folded pattern before its
// ESCAPE applies (like_escape(lower($1), e)), an ILIKE's pattern after.
func (run *sortRun) prepareFolds(i int, hidden [][]byte) *pgerr.Error {
	f, fa := run.plan.Filters[i], &run.filterArgs[i]
	var maps [2]map[sqlrewrite.Fold]caseMap // the column's, the constants'
	for k, at := range []int{f.Ctype, f.DefaultCtype} {
		if at >= 0 {
			var pe *pgerr.Error
			if maps[k], pe = ctypeMaps(f, hidden[at]); pe != nil {
				return pe
			}
		}
	}
	fa.colFold = maps[0][f.ColumnFold]
	if f.Op.ILike() {
		fa.ilike = maps[0][sqlrewrite.FoldLower]
	}
	for j := range fa.args {
		a := &fa.args[j]
		if a.null || (f.Args[j].Fold == sqlrewrite.FoldNone && !(j == 0 && f.Op.ILike())) {
			continue
		}
		if f.Op.Like() {
			if pe := fa.foldPattern(f, maps[1][f.Args[0].Fold]); pe != nil {
				return pe
			}
			continue
		}
		if fold := maps[1][f.Args[j].Fold]; fold != nil {
			k, err := pgorder.Parse(textLogical, fold(new([]byte), a.key.Text())) // kept: a slice of its own
			if err != nil {
				return pgerr.Newf(pgerr.InternalError, "phiguard could not read the value compared with %s as text", f.Column.QualifiedName())
			}
			a.key = k
		}
	}
	return nil
}

// foldPattern maps a pattern's case: its own lower() or upper(), then
// its ESCAPE (left by finishFilterArgs for after the fold), then an
// ILIKE's lower().
func (fa *filterArgs) foldPattern(f sqlrewrite.Filter, fold caseMap) *pgerr.Error {
	p := fa.args[0].pattern
	if fold != nil {
		p = fold(new([]byte), p)
	}
	if fa.escapeLater {
		var pe *pgerr.Error
		if p, pe = likeEscape(p, fa.escape); pe != nil {
			return pe
		}
		fa.escapeLater = false
	}
	if fa.ilike != nil {
		p = fa.ilike(new([]byte), p)
	}
	fa.args[0].pattern = p
	return nil
}

// foldValue maps a row's value of the column as the filter does, before
// it is compared (fa.colFold) or matched (then fa.ilike), into bufs (two,
// so that the second map never reads what it writes); the value returned
// may share them, and is dropped before the next row's.
func (fa *filterArgs) foldValue(x sortValue, bufs *[2][]byte) (sortValue, error) {
	if x.null || fa.colFold == nil && fa.ilike == nil {
		return x, nil
	}
	b := x.key.Text()
	if fa.colFold != nil {
		b = fa.colFold(&bufs[0], b)
	}
	if fa.ilike != nil {
		b = fa.ilike(&bufs[1], b)
	}
	k, err := pgorder.Parse(textLogical, b)
	x.key = k
	return x, err
}

var textLogical = policy.LogicalType{Name: "text", OID: policy.OIDText, Size: -1, Modifier: -1}
