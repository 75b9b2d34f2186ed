package guard

import "github.com/phiguard/phiguard/sqlrewrite"

// Case folding under a libc LC_CTYPE other than C (protect_fold.go).
// PostgreSQL's lower() and upper() under a libc locale in a UTF8
// database map each character on its own with towlower_l/towupper_l
// (str_tolower); phiguard calls the same functions of its own C library
// (internal/pgcollate, whose TestCaseAgainstPostgres checks every code
// point against PostgreSQL), under the same condition as the sort's
// collation rule (collation.go): the locale installed where phiguard
// runs, and the version PostgreSQL reports for the collation phiguard's
// own C library's. Any other LC_CTYPE (ICU's full mapping, another C
// library, a locale missing here) is refused when the first row brings
// the probes (0A000).

// caseMapsFor are the lower() and upper() of an LC_CTYPE probe's answer
// (provider:version:locale), when phiguard maps case as PostgreSQL does
// under it: C and POSIX (ASCII only), or a libc locale as above.
func caseMapsFor(probe []byte) (map[sqlrewrite.Fold]caseMap, bool) {
	p, ok := readProbe(probe)
	switch {
	case !ok || p.provider != "c":
		return nil, false
	case p.bytewise():
		return cCaseMaps, true
	}
	locale, _ := p.libcLocale() // collation.go
	if locale == nil {
		return nil, false
	}
	mapWith := func(f func([]byte) ([]byte, error)) caseMap {
		return func(_ *[]byte, b []byte) []byte {
			if out, err := f(b); err == nil {
				return out
			}
			return b // not UTF-8, which a UTF8 database's text never is
		}
	}
	return map[sqlrewrite.Fold]caseMap{sqlrewrite.FoldLower: mapWith(locale.Lower), sqlrewrite.FoldUpper: mapWith(locale.Upper)}, true
}
