package guard

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The order of an encrypted text column's values in the proxy-side ORDER
// BY and WHERE (docs/search.md, "The collation rule"). The statement's
// collation probe (sqlrewrite.collationProbe) tells the column's
// collation as provider:version:locale. C and POSIX order by bytes
// (pgorder); a libc locale orders as the C library's strcoll_l with a
// byte tie-break (internal/pgcollate), which is PostgreSQL's order when
// phiguard's C library is the server's version; ICU collations are
// refused.

// collationEntry is what the catalog read of a collation: its
// collation and its LC_CTYPE as probe answers (provider:version:locale),
// and whether it is deterministic ("true" or "false").
type collationEntry struct{ collate, ctype, deterministic []byte }

// probeKind is what a probe asks of a collation.
type probeKind uint8

const (
	probeCollate probeKind = iota
	probeCtype
	probeDeterministic
)

// collationQuery describes the collations of the protected columns, the
// database's default (100), C (950) and POSIX (951): OID, collation,
// LC_CTYPE. The version is PostgreSQL's for a libc collation (its C
// library's, none for C and POSIX); ICU's is not asked for (phiguard
// refuses ICU, and asking costs PostgreSQL a collator each).
func collationQuery(pol *policy.Policy) string {
	const dbVersion = "COALESCE(CASE WHEN d.datlocprovider = 'c' THEN pg_catalog.pg_database_collation_actual_version(d.oid) END, '')"
	const version = "COALESCE(CASE WHEN l.collprovider = 'c' THEN pg_catalog.pg_collation_actual_version(l.oid) END, '')"
	return `SELECT l.oid::pg_catalog.text,
  CASE WHEN l.collprovider = 'd' THEN d.datlocprovider::pg_catalog.text || ':' || ` + dbVersion + ` || ':' || COALESCE(d.daticulocale, d.datcollate::pg_catalog.text)
  ELSE l.collprovider::pg_catalog.text || ':' || ` + version + ` || ':' || COALESCE(l.colliculocale, l.collcollate, '') END,
  CASE WHEN l.collprovider = 'd' THEN d.datlocprovider::pg_catalog.text || ':' || ` + dbVersion + ` || ':' || COALESCE(d.daticulocale, d.datctype::pg_catalog.text)
  ELSE l.collprovider::pg_catalog.text || ':' || ` + version + ` || ':' || COALESCE(l.colliculocale, l.collctype, '') END,
  l.collisdeterministic::pg_catalog.text
FROM pg_catalog.pg_collation l JOIN pg_catalog.pg_database d ON d.datname = pg_catalog.current_database()
WHERE l.oid IN (100, 950, 951) OR l.oid IN (SELECT a.attcollation FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE (n.nspname::pg_catalog.text, c.relname::pg_catalog.text, a.attname::pg_catalog.text) IN (` + strings.Join(protectedColumnKeys(pol), ",") + `))`
}

// addCollation takes a row of collationQuery.
func (b *catalogBuilder) addCollation(v [][]byte) error {
	oid, err := strconv.ParseUint(string(v[0]), 10, 32)
	if err != nil {
		return pgwire.Violation("malformed catalog row from backend")
	}
	b.cat.collations[uint32(oid)] = collationEntry{collate: bytes.Clone(v[1]), ctype: bytes.Clone(v[2]), deterministic: bytes.Clone(v[3])}
	return nil
}

// resolveProbes is the first row's hidden values with each collation
// probe (a column's collation OID, collationProbe) replaced by the
// catalog's description of that collation: the collation itself for an
// ORDER BY key, a comparison or min/max, its LC_CTYPE for a case
// mapping, whether it is deterministic for DISTINCT and count(DISTINCT).
// A collation the catalog does not describe was given to the column by
// DDL in another session since the session read it: the statement is
// refused with 40001 and the catalog read again before the next one.
func (s *Session) resolveProbes(sp *sqlrewrite.SortPlan, hidden [][]byte) ([][]byte, *pgerr.Error) {
	out := slices.Clone(hidden)
	cat := s.catalog.Load()
	resolve := func(at int, kind probeKind) *pgerr.Error {
		if at < 0 || hidden[at] == nil || string(hidden[at]) == "shadowed" {
			return nil // no row: the column is gone, and orderFor refuses
		}
		// hidden, not out: a probe shared by several keys and filters
		// (sqlrewrite's addShared) is resolved once per reader.
		oid, err := strconv.ParseUint(string(hidden[at]), 10, 32)
		e, known := collationEntry{}, false
		if cat != nil && err == nil {
			e, known = cat.collations[uint32(oid)]
		}
		if !known {
			s.catalogStale.Store(true)
			return pgerr.New(pgerr.SerializationFailure,
				"the collation of an encrypted text column changed since this session read its catalog (DDL in another session): run the statement again")
		}
		out[at] = [...][]byte{probeCollate: e.collate, probeCtype: e.ctype, probeDeterministic: e.deterministic}[kind]
		return nil
	}
	type probe struct {
		at   int
		kind probeKind
	}
	var probes []probe
	for _, k := range sp.Keys {
		probes = append(probes, probe{k.Collation, probeCollate})
	}
	for _, f := range sp.Filters {
		probes = append(probes, probe{f.Collation, probeCollate}, probe{f.Ctype, probeCtype}, probe{f.DefaultCtype, probeCtype})
	}
	for _, k := range sp.Distinct {
		probes = append(probes, probe{k.Collation, probeDeterministic})
	}
	for _, a := range sp.Aggregates {
		probes = append(probes, probe{a.Collation, probeCollate}, probe{a.Deterministic, probeDeterministic})
	}
	for _, p := range probes {
		if pe := resolve(p.at, p.kind); pe != nil {
			return nil, pe
		}
	}
	return out, nil
}

// keyOrder compares two keys of one sort key or filter's column.
type keyOrder struct {
	locale *pgcollate.Locale // nil: pgorder's order (bytes for text)
}

func (o keyOrder) compare(a, b pgorder.Key) int { return o.compareAt(&a, &b) }

// compareAt is compare without copying the keys (a sort's comparisons).
func (o keyOrder) compareAt(a, b *pgorder.Key) int {
	if o.locale != nil {
		return o.locale.Compare(a.Text(), b.Text())
	}
	return a.CompareTo(b)
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

// probeFields is readProbe's fields as sub-slices of probe, allocating
// nothing: for the checks each Parse makes (term_records.go,
// protect_terms.go).
func probeFields(probe []byte) (provider, version, locale []byte, ok bool) {
	provider, rest, ok := bytes.Cut(probe, []byte(":"))
	version, locale, ok2 := bytes.Cut(rest, []byte(":"))
	return provider, version, locale, probe != nil && ok && ok2
}

// probeBytewise is readProbe(probe)'s bytewise, without its allocation.
func probeBytewise(probe []byte) bool {
	provider, _, locale, ok := probeFields(probe)
	return ok && string(provider) == "c" && (string(locale) == "C" || string(locale) == "POSIX")
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

// libcLocale is the locale of a libc collation other than C and POSIX,
// opened where phiguard runs, when its order and case mapping are
// PostgreSQL's: the server reports the version of phiguard's own C
// library (none, for C.utf8 and the like). Otherwise it says why not.
func (p collationProbe) libcLocale() (*pgcollate.Locale, string) {
	switch {
	case p.provider != "c":
		return nil, "phiguard orders text under libc collations only, not ICU's"
	case p.version != "" && p.version != pgcollate.Version():
		return nil, fmt.Sprintf("the database server's C library (version %s) is not phiguard's (%s), so their orders may differ", p.version, pgcollate.Version())
	}
	locale, err := pgcollate.Open(p.locale)
	if err != nil {
		return nil, fmt.Sprintf("phiguard cannot use the locale where it runs (%v)", err)
	}
	return locale, ""
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
	if !ok {
		return refuse("phiguard could not read the column's collation")
	}
	locale, why := p.libcLocale()
	if locale == nil {
		return refuse(why)
	}
	return keyOrder{locale: locale}, nil
}
