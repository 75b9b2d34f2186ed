package guard

import (
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
)

// Terms built under another collation (docs/design/search-terms.md §5.1).
// A text column's order and match terms are computed under its collation
// (protect_terms.go), and `phiguard search install` records in
// phiguard.search_objects the collation name and version they were built
// under. After the server's C library changes the collation's version, or
// ALTER COLUMN ... COLLATE gives the column another, the stored terms may
// order or lower values differently from the database now: a term
// conjunct could then leave a matching row out of the candidates, and the
// re-check cannot bring back a row it never sees. So a term conjunct on
// such a column is sent only when the record matches the collation the
// catalog describes now; otherwise the statement runs as without terms,
// in phiguard on every row the other predicates allow (same answer,
// slower), until `phiguard encrypt --rebuild-terms` and `phiguard search
// install` bring cells and record up to date.

// termRecordKey names one record: the table as policy.TableName.String()
// writes it (what install records), the column, the kind letter, joined
// by NUL (recordKey). One string rather than a struct of three, so that
// termsCurrent, run for each filter of each Parse, looks a record up by
// bytes on its stack without allocating the table's name.
type termRecordKey string

// recordKey appends the record key of table (as String writes it,
// quoted where it needs quotes), column and kind to dst.
func recordKey(dst []byte, table policy.TableName, column, kind string) []byte {
	dst = append(append(append(dst, policy.QuoteIdentifier(table.Schema)...), '.'), policy.QuoteIdentifier(table.Name)...)
	return append(append(append(append(dst, 0), column...), 0), kind...)
}

// termRecord is the collation a kind of terms was built under.
type termRecord struct{ name, version string }

// The kind letters of phiguard.search_objects the proxy asks about.
const (
	termRecordOrder = "o"
	termRecordMatch = "m"
)

// termRecordsWanted: the policy has a column with ready terms whose
// order or match terms depend on a collation, the only reason to read
// the records (their query needs a server with libxml).
func termRecordsWanted(pol *policy.Policy) bool {
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			if (c.SearchState == policy.SearchReady || c.SearchState == policy.SearchRekeying) && search.NeedsLocale(c) {
				return true
			}
		}
	}
	return false
}

// addTermRecord takes a row of search.RecordsQuery.
func (b *catalogBuilder) addTermRecord(v [][]byte) {
	if b.cat.termRecords == nil {
		b.cat.termRecords = map[termRecordKey]termRecord{}
	}
	key := append(append(append(append(append([]byte(nil), v[0]...), 0), v[1]...), 0), v[2]...)
	b.cat.termRecords[termRecordKey(key)] = termRecord{string(v[3]), string(v[4])}
}

// termsCurrent: col's terms of kind (termRecordOrder, termRecordMatch)
// may narrow a search: they depend on no collation, or the record of
// their build names the collation and version the catalog reports for
// the column now (its LC_COLLATE for order terms, LC_CTYPE for match
// terms, which lower() follows). No record, no collation description, or
// another name or version: not current.
func (s *Session) termsCurrent(col *policy.ProtectedColumn, kind string) bool {
	if !search.NeedsLocale(col) {
		return true
	}
	cat := s.catalog.Load()
	e, known := cat.columnCollation(col)
	if !known {
		return false
	}
	var buf [128]byte
	rec, ok := cat.termRecords[termRecordKey(recordKey(buf[:0], col.Table.Name, col.Name, kind))]
	probe := e.collate
	if kind == termRecordMatch {
		probe = e.ctype
	}
	_, version, locale, read := probeFields(probe)
	return ok && read && rec.name == string(locale) && rec.version == string(version)
}

// columnCollation is the description of col's collation as the catalog
// read it; false when the catalog does not list the column or its
// collation (DDL in another session since the read).
func (c *catalog) columnCollation(col *policy.ProtectedColumn) (collationEntry, bool) {
	if c == nil {
		return collationEntry{}, false
	}
	for _, cc := range c.tables[col.Table.Name] {
		if cc.protected == col && cc.collation != 0 {
			e, ok := c.collations[cc.collation]
			return e, ok
		}
	}
	return collationEntry{}, false
}
