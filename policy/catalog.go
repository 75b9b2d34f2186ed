package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Catalog is a snapshot of the live database's tables and column types, as
// much of it as CheckCatalog needs. It is plain data so that the check is a
// pure function, testable without a database; package policy/pgcatalog fills
// one from a live server.
type Catalog struct {
	Tables map[TableName]CatalogTable
	// SearchRecords: phiguard.search_objects was read (it exists and the
	// login may read it) into the columns' TermsBuiltUnder.
	SearchRecords bool
}

// CatalogTable is one table's columns by (folded) name.
type CatalogTable struct {
	Columns map[string]CatalogColumn
}

// CatalogColumn is a column's current type.
type CatalogColumn struct {
	// Type is PostgreSQL's own spelling, format_type(atttypid, atttypmod):
	// "text", "character varying(64)", "numeric(14,2)", "date".
	Type string
	// OID is pg_attribute.atttypid and Modifier pg_attribute.atttypmod
	// (-1 for none).
	OID      uint32
	Modifier int32
	// CollationProvider is the provider of the column's collation, the
	// database's for the default one: "c" (libc), "i" (ICU), "" for a
	// type without a collation or when unknown; Collation its name.
	CollationProvider string
	Collation         string
	// CollateLocale and CtypeLocale are the collation's LC_COLLATE and
	// LC_CTYPE (the database's for the default one), CollationVersion
	// the version the server reports for it now ("" for C, POSIX and
	// ICU).
	CollateLocale, CtypeLocale, CollationVersion string
	// TermsBuiltUnder is what phiguard.search_objects records of the
	// collation each kind of the column's terms was built under, by kind
	// letter (o order, m match, p prefix, e equality).
	TermsBuiltUnder map[string]TermsBuild
}

// TermsBuild is the collation and version a kind of terms was built
// under, as `phiguard search install` recorded it ("" for none).
type TermsBuild struct{ Collation, Version string }

// CheckCatalog compares the policy with a snapshot of the live database and
// reports every mismatch, each with the key path of the policy entry:
//
//   - a table, protected column or subject column that does not exist;
//   - a protected column whose current type cannot hold a cell. Cells are
//     text longer than the plaintext, so the column must be text or varchar
//     without a length. Any other current type is accepted only when it is
//     the column's declared logical type (modifier included): the backfill
//     (`phiguard encrypt`) then converts it to text and phiguard keeps
//     presenting the declared type. A type that is neither is an error,
//     since the backfill would change what the application sees;
//   - a text column with order or match search terms under an ICU
//     collation (searchCollation);
//   - a ready text column whose order or match terms were built under
//     another collation or version than the database reports now, or
//     of which phiguard.search_objects holds no record (termsBuild).
//
// It returns nil when there is nothing to report.
func (p *Policy) CheckCatalog(cat Catalog) error {
	var ps Problems
	add := func(path string, line int, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
	}
	for _, t := range p.tables {
		ct, ok := cat.Tables[t.Name]
		if !ok {
			add(t.path, t.line, "table %s does not exist in the database%s", t.Name, similarTable(cat, t.Name))
			continue
		}
		if t.SubjectColumn != "" {
			if _, ok := ct.Columns[t.SubjectColumn]; !ok {
				add(t.path+".subject_column", t.subjectLine, "column %s does not exist in table %s", QuoteIdentifier(t.SubjectColumn), t.Name)
			}
		}
		for _, c := range t.Columns {
			cc, ok := ct.Columns[c.Name]
			if !ok {
				add(c.path, c.line, "column %s does not exist in table %s%s", QuoteIdentifier(c.Name), t.Name, similarColumn(ct, c.Name))
				continue
			}
			if msg := storable(c.Type, cc); msg != "" {
				add(c.path+".type", c.line, "%s", msg)
			}
			if msg := searchCollation(c, cc); msg != "" {
				add(c.path+".search", c.line, "%s", msg)
			}
			if msg := termsBuild(c, cc, cat.SearchRecords); msg != "" {
				add(c.path+".search_state", c.line, "%s", msg)
			}
		}
	}
	return ps.errorOrNil()
}

// storable explains why a column of type cur cannot hold cells for a column
// declared as want, or returns "".
func storable(want LogicalType, cur CatalogColumn) string {
	switch {
	case cur.OID == OIDText:
		return ""
	case cur.OID == OIDVarchar && cur.Modifier < 0:
		if want.OID != OIDVarchar && want.OID != OIDText {
			return fmt.Sprintf("the column is %s, not %s; only a text column (one the backfill converted, or one the schema already declares text) may hold a %s", cur.Type, want, want)
		}
		return ""
	case cur.OID == want.OID && cur.Modifier == want.Modifier && want.Name != "":
		return "" // the backfill converts it to text
	case cur.OID == want.OID && want.Name != "":
		return fmt.Sprintf("the column is %s but the policy declares %s; declare the same modifier so that clients keep seeing %s", cur.Type, want, cur.Type)
	case want.Name == "":
		return "" // the unknown declared type is already a Validate problem
	}
	return fmt.Sprintf("the column is %s, which cannot hold encrypted cells, and the policy declares %s, so the backfill would change the type clients see; declare the column's own type, or convert it to text first", cur.Type, want)
}

func similarTable(cat Catalog, want TableName) string {
	var hits []string
	for n := range cat.Tables {
		if strings.EqualFold(n.Name, want.Name) && n != want {
			hits = append(hits, n.String())
		}
	}
	if len(hits) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(sorted(hits), " or ") + "?)"
}

func similarColumn(t CatalogTable, want string) string {
	var hits []string
	for n := range t.Columns {
		if strings.EqualFold(n, want) && n != want {
			hits = append(hits, QuoteIdentifier(n))
		}
	}
	if len(hits) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(sorted(hits), " or ") + "? quote a mixed-case name as in SQL)"
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

// searchCollation explains why the column's collation refuses the order
// and match terms its policy lists, or returns "": phiguard computes them
// under libc collations only (docs/design/search-terms.md §5.1), and the
// proxy refuses every write of such a column under ICU.
func searchCollation(c *ProtectedColumn, cur CatalogColumn) string {
	if !isTextType(c.Type) || cur.CollationProvider != "i" {
		return ""
	}
	var kinds []string
	for _, k := range []SearchKind{SearchOrder, SearchMatch} {
		if c.Search.Has(k) {
			kinds = append(kinds, k.String())
		}
	}
	if len(kinds) == 0 {
		return ""
	}
	return fmt.Sprintf("%s terms are computed under libc collations only, and the column's collation %q is ICU: phiguard refuses every write of it; give the column a libc collation (COLLATE \"C\" or a libc locale) or drop %s from search",
		strings.Join(kinds, " and "), cur.Collation, strings.Join(kinds, " and "))
}

// termsBuild explains why a ready column's order or match terms of text
// cannot narrow a search, or returns "": phiguard.search_objects does not
// record them, or records another collation or version than the one the
// column has now (docs/design/search-terms.md §5.1). The proxy then
// searches the column without them (same answers, every row decrypted).
// A rekeying column's match terms are checked too (the proxy sends every
// version's for a literal pattern), not its order terms, which it does
// not use while rekeying.
func termsBuild(c *ProtectedColumn, cur CatalogColumn, recordsRead bool) string {
	if c.SearchState != SearchReady && c.SearchState != SearchRekeying || !isTextType(c.Type) {
		return ""
	}
	state := string(c.SearchState)
	for _, k := range []struct {
		kind   SearchKind
		letter string
		locale string
	}{{SearchOrder, "o", cur.CollateLocale}, {SearchMatch, "m", cur.CtypeLocale}} {
		if !c.Search.Has(k.kind) || c.SearchState == SearchRekeying && k.kind == SearchOrder {
			continue
		}
		b, ok := cur.TermsBuiltUnder[k.letter]
		switch {
		case !recordsRead:
			return state + ", but phiguard.search_objects cannot be read (phiguard search install has not run, or the login may not read it): the proxy uses no " + k.kind.String() + " term of the column until it can"
		case !ok:
			return fmt.Sprintf("%s, but phiguard.search_objects holds no record of the column's %s terms: run phiguard search install", state, k.kind)
		case b.Collation != k.locale || b.Version != cur.CollationVersion:
			return fmt.Sprintf("%s terms were built under %s, the database reports %s now: the proxy searches the column without them until phiguard encrypt --rebuild-terms and phiguard search install have run",
				k.kind, describeBuild(b), describeBuild(TermsBuild{k.locale, cur.CollationVersion}))
		}
	}
	return ""
}

// describeBuild is a collation and version for a message.
func describeBuild(b TermsBuild) string {
	if b.Version == "" {
		return fmt.Sprintf("%q (no version)", b.Collation)
	}
	return fmt.Sprintf("%q version %s", b.Collation, b.Version)
}
