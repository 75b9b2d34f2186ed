package proxy

import (
	"fmt"
	"strings"

	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
)

// The order of an encrypted text column's values in the proxy-side ORDER
// BY and WHERE (docs/search.md, "The collation rule"). The statement's
// collation probe (sqlrewrite.collationProbe) tells the column's
// collation as provider:version:locale. C and POSIX order by bytes
// (pgorder); a libc locale orders as the C library's strcoll_l with a
// byte tie-break (internal/pgcollate), which is PostgreSQL's order when
// phiguard's C library is the server's version; ICU collations are
// refused.

// keyOrder compares two keys of one sort key or filter's column.
type keyOrder struct {
	locale *pgcollate.Locale // nil: pgorder's order (bytes for text)
}

func (o keyOrder) compare(a, b pgorder.Key) int {
	if o.locale != nil {
		return o.locale.Compare(a.Text(), b.Text())
	}
	return pgorder.Compare(a, b)
}

// collationProbe is a probe's answer, read.
type collationProbe struct {
	provider, version, locale string
}

func readProbe(probe []byte) (collationProbe, bool) {
	provider, rest, ok := strings.Cut(string(probe), ":")
	version, locale, ok2 := strings.Cut(rest, ":")
	return collationProbe{provider, version, locale}, probe != nil && ok && ok2
}

// localeOf is a probe's locale, for a message.
func localeOf(probe []byte) string {
	if p, ok := readProbe(probe); ok && p.locale != "" {
		return p.locale
	}
	return "(unknown)"
}

// bytewise: libc's C or POSIX, which order text by its bytes.
func (p collationProbe) bytewise() bool {
	return p.provider == "c" && (p.locale == "C" || p.locale == "POSIX")
}

// orderFor is how phiguard orders col's text under the probed collation,
// or why it cannot: what refuses the statement (construct: "ORDER BY",
// "WHERE").
func orderFor(col *policy.ProtectedColumn, construct string, probe []byte) (keyOrder, *pgerr.Error) {
	p, ok := readProbe(probe)
	if ok && p.bytewise() {
		return keyOrder{}, nil
	}
	refuse := func(why string) (keyOrder, *pgerr.Error) {
		locale := p.locale
		if locale == "" {
			locale = "(unknown)"
		}
		return keyOrder{}, pgerr.Newf(pgerr.FeatureNotSupported,
			"%s on encrypted text column %s under collation %s: %s", construct, col.QualifiedName(), locale, why)
	}
	switch {
	case !ok:
		return refuse("phiguard could not read the column's collation")
	case p.provider != "c":
		return refuse("phiguard orders text under libc collations only, not ICU's")
	case p.version != "" && p.version != pgcollate.Version():
		return refuse(fmt.Sprintf("the database server's C library (version %s) is not phiguard's (%s), so their orders may differ", p.version, pgcollate.Version()))
	}
	locale, err := pgcollate.Open(p.locale)
	if err != nil {
		return refuse(fmt.Sprintf("phiguard cannot use the locale where it runs (%v)", err))
	}
	return keyOrder{locale: locale}, nil
}
