package guard

import (
	"encoding/binary"
	"fmt"
	"hash"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A RowDescription names each result column's table by OID and the column
// by attribute number. The catalog maps those back to protected columns:
// it is read once per session, on the session's own backend connection,
// right after authentication and before the client sees its first
// ReadyForQuery, so it reflects the database (and privileges) the client
// actually logged in to.
type catalog struct {
	byOID map[uint32]map[int16]*policy.ProtectedColumn
	// subjects maps the subject column of each protected table that names
	// one (the patient id), for the audit's per-subject accounting.
	subjects map[uint32]map[int16]*policy.ProtectedTable
	// tables lists every column of each protected table in attribute
	// order, for COPY without a column list.
	tables map[policy.TableName][]catalogColumn
	// oids are the protected tables' OIDs, for the column guard of a
	// filled column list (columnOrder).
	oids map[policy.TableName]uint32
	// attnums are the attribute numbers of each protected table's
	// columns, by OID: a result field of a protected table with another
	// number means another session's DDL made the catalog stale
	// (unknownColumn).
	attnums map[uint32]map[int16]bool
	// views are the views and rules-bearing relations that read a table
	// with encrypted columns, directly or through other views, and its
	// partitions, inheritance children and parents: a value written
	// through one reaches the table without phiguard seeing its column,
	// so writes through them are refused (writeThroughView).
	views map[policy.TableName]bool
	// encViews are those of views whose rules read an encrypted column
	// (or a column of such a view): what they return may be ciphertext
	// phiguard cannot tell from its RowDescription (the view's own OID
	// and attribute numbers), so reads through them are refused too.
	encViews map[policy.TableName]bool
	// kin are those of views that are partitions, inheritance children
	// or parents of a protected table (for the refusal's words).
	kin map[policy.TableName]bool
	// collations describe, by OID, the collation of every protected
	// column and the database's default (100), C and POSIX, for the
	// collation probes of a proxy-side ORDER BY or WHERE (collation.go).
	collations map[uint32]collationEntry
	// termRecords are phiguard.search_objects' records of the collation
	// each kind of a column's terms was built under (term_records.go),
	// read only for a policy with ready terms that depend on one.
	termRecords map[termRecordKey]termRecord
	// native is nativeType as a func value, made once (newCatalogBuilder)
	// rather than at each nativeColumns call (sort_native.go).
	native sqlrewrite.NativeColumn
	// shared are the names of every relation, column and function OUT
	// parameter in the database, and the functions running SQL given as
	// text, when the catalog was read: read-only, shared by the sessions
	// of the database that read the same rows (catalog_shared.go; read
	// them through names()). maxOID is the highest relation OID then: a
	// statement naming a relation names does not list, or writing
	// through a view, has the catalog read again first, a result field of
	// a higher OID comes from a relation made since (catalog_names.go).
	shared *catalogNames
	maxOID uint32
	// madeSince are the names a statement named that the read did not
	// list but that resolve on the latest catalog (catalog_latest.go).
	madeSince map[sqlrewrite.TableName]bool
	// hasComputed is set when a protected table has a generated column
	// computed from an encrypted one (catalog_computed.go).
	hasComputed bool
	// path are the schemas of the session's search path when the catalog
	// was read (indexes of schemas), if pathRead (catalog_path_follow.go);
	// nowIn the schema each protected table's name resolves in under it,
	// on the latest catalog (catalog_shadow.go).
	path     []int32
	pathRead bool
	nowIn    map[string]string
	// whole is the catalog a read of the path alone (readPathFirst) was
	// copied from, nil for one read whole.
	whole *catalog
	// checked are the names reads of the path alone since whole found
	// resolving as it lists them under the path (readPathFirst); a
	// name not among them is checked before a statement naming it.
	checked map[string]bool
	// protNames are the protected tables by name, for protectedNamed.
	protNames map[string][]policy.TableName
	// namedLike are the relations with a column named like an encrypted
	// column, by that name (catalog_unshadowed.go).
	namedLike map[string][]sqlrewrite.TableName
	// namedFuncs are the functions whose result may have a column named
	// like an encrypted column ("" for any name: catalog_functions.go).
	namedFuncs map[string][]sqlrewrite.TableName
	// funcReturns are the functions that return the rows of a relation
	// (or composite type), by function name.
	funcReturns map[string][]funcReturn
	// namedAsked are the names namedLikeQuery asked about: a name not
	// among them may be any relation's column.
	namedAsked map[string]bool
	// namedStale: a row of namedLike names a column the latest catalog
	// does not (a snapshot older than another session's DDL).
	namedStale bool
	// namedSnapshot: namedLike was read inside a transaction block of
	// REPEATABLE READ or SERIALIZABLE, whose snapshot may be older than
	// the relations an unqualified name resolves to.
	namedSnapshot bool
	// judges are the CHECK constraints and row security policies over
	// an encrypted column, by their table's name (catalog_judged.go).
	judges map[string][]judge
	// judgeMarks are the protected tables' sqlrewrite.JudgesMark, by OID,
	// for the judges guard of their writes (judges_guard.go).
	judgeMarks map[uint32]string
}

type catalogColumn struct {
	name       string
	attnum     int16
	protected  *policy.ProtectedColumn // nil for an unprotected column
	hasDefault bool
	// generated: a generated column, which COPY without a column list
	// leaves out.
	generated bool
	// typ is its type as format_type spells it, domain whether that is a
	// domain, and noInsert whether the session's role may not INSERT it
	// (sqlrewrite/guard_slot.go).
	typ      string
	typOID   uint32
	domain   bool
	noInsert bool
	// collation is the column's collation OID (0 for a type without
	// one): a column with search terms computes its order and match
	// terms under it (protect_terms.go).
	collation uint32
	// computed: a generated column computed from an encrypted column,
	// which PostgreSQL computes on the ciphertext (catalog_computed.go).
	computed bool
}

// hasDefault reports whether a protected column has a default expression
// in this database, its own or its type's (a domain's, which PostgreSQL
// takes when the column has none) (unknown columns are taken to have one: fail closed).
func (c *catalog) hasDefault(col *policy.ProtectedColumn) bool {
	if c == nil {
		return true
	}
	for _, cc := range c.tables[col.Table.Name] {
		if cc.protected == col {
			return cc.hasDefault
		}
	}
	return true
}

func (c *catalog) column(table uint32, attnum int16) *policy.ProtectedColumn {
	if c == nil || table == 0 {
		return nil
	}
	return c.byOID[table][attnum]
}

// unknownColumn: a column of a protected table the catalog does not
// list, added since it was read (by another session: the session's own
// DDL re-reads it).
func (c *catalog) unknownColumn(table uint32, attnum int16) bool {
	if c == nil {
		return false
	}
	known := c.attnums[table]
	return known != nil && attnum > 0 && !known[attnum]
}

func (c *catalog) empty() bool { return c == nil || (len(c.byOID) == 0 && len(c.subjects) == 0) }

func (c *catalog) subject(table uint32, attnum int16) *policy.ProtectedTable {
	if c == nil || table == 0 {
		return nil
	}
	return c.subjects[table][attnum]
}

// catalogQuery selects every column of every protected table.
func catalogQuery(pol *policy.Policy) string {
	var keys []string
	for _, t := range pol.Tables() {
		keys = append(keys, fmt.Sprintf("(%s,%s)", quoteLiteral(t.Name.Schema), quoteLiteral(t.Name.Name)))
	}
	if len(keys) == 0 {
		keys = append(keys, "(NULL,NULL)")
	}
	protected := `(n.nspname::text, c.relname::text) IN (` + strings.Join(keys, ",") + `)`
	// The rows with attnum 0 are the views (and other relations with
	// rewrite rules) that read a protected table, found by following
	// pg_depend from each rule to the relations it reads, recursively;
	// their last field says whether the rule reads an encrypted column
	// (pg_depend holds one row per column a rule reads), or any column of
	// a view that does. The partitions and inheritance children of a
	// protected table (kin, down) and its parents (up) count too: a row
	// written into one lands in the protected table's storage, or in a
	// protected partition, as the statement wrote it, and a row read
	// from one comes back under its OID, which phiguard cannot map to
	// the protected columns; enc when the protected table has an
	// encrypted column; their last field is set (kin).
	return collationQuery(pol) + `;
WITH RECURSIVE ` + protectedColumnsCTE(pol) + `, ` + computedColumnsCTE + `, down(oid, enc, top) AS (
  SELECT c.oid, EXISTS (SELECT 1 FROM pcols WHERE pcols.relid = c.oid), true
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE ` + protected + `
  UNION
  SELECT i.inhrelid, down.enc, false FROM pg_catalog.pg_inherits i JOIN down ON down.oid = i.inhparent
), up(oid, enc, top) AS (
  SELECT oid, enc, top FROM down WHERE top
  UNION
  SELECT i.inhparent, up.enc, false FROM pg_catalog.pg_inherits i JOIN up ON up.oid = i.inhrelid
), kin(oid, enc, top) AS (
  SELECT * FROM down UNION SELECT * FROM up
), readers(oid, enc, kin) AS (
  SELECT oid, enc AND NOT top, NOT top FROM kin
  UNION
  SELECT r.ev_class, (readers.enc AND d.refobjsubid > 0) OR (d.refobjid, d.refobjsubid) IN (SELECT relid, attnum FROM pcols UNION ALL SELECT relid, attnum FROM gcols), false
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
  JOIN readers ON readers.oid = d.refobjid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
  WHERE r.ev_class <> d.refobjid
)
SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname,
  ` + sqlrewrite.ColumnHasDefault + `,
  a.attgenerated <> '',
  pg_catalog.format_type(a.atttypid, NULL), a.atttypid,
  EXISTS (SELECT FROM pg_catalog.pg_type ty WHERE ty.oid = a.atttypid AND ty.typtype = 'd'),
  NOT pg_catalog.has_column_privilege(c.oid, a.attnum, 'INSERT'),
  a.attcollation, (a.attrelid, a.attnum) IN (SELECT relid, attnum FROM gcols)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND ` + protected + `
UNION ALL
SELECT c.oid, n.nspname, c.relname, 0::int2, '', bool_or(readers.enc), bool_or(readers.kin), '', 0::pg_catalog.oid, false, false, 0::pg_catalog.oid, false
FROM readers JOIN pg_catalog.pg_class c ON c.oid = readers.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE NOT ` + protected + `
GROUP BY 1, 2, 3
ORDER BY 1, 4;
` + relationsQuery() + ";\n" + columnNamesQuery + ";\n" + funcOutQuery + ";\n" + judgesQuery(pol) + ";\n" + namedLikeQuery(pol)
}

// protectedColumnsCTE finds the encrypted columns (pcols).
func protectedColumnsCTE(pol *policy.Policy) string {
	return `pcols(relid, attnum) AS (
  SELECT a.attrelid, a.attnum FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE (n.nspname::text, c.relname::text, a.attname::text) IN (` + strings.Join(protectedColumnKeys(pol), ",") + `)
)`
}

// protectedColumnKeys lists the policy's protected columns as SQL row
// literals (schema, table, column).
func protectedColumnKeys(pol *policy.Policy) []string {
	var keys []string
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			keys = append(keys, fmt.Sprintf("(%s,%s,%s)", quoteLiteral(t.Name.Schema), quoteLiteral(t.Name.Name), quoteLiteral(c.Name)))
		}
	}
	if len(keys) == 0 {
		keys = append(keys, "(NULL,NULL,NULL)")
	}
	return keys
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// loadCatalog runs the catalog query on the backend connection and reads
// its answer up to ReadyForQuery. The client is waiting for its first
// ReadyForQuery meanwhile and sees none of this.
func (s *Session) loadCatalog() error {
	b := newCatalogBuilder(s.policy())
	if err := s.ownQuery(s.catalogQueryMessage(b), b.add); err != nil {
		return err
	}
	if b.failure != "" {
		// The client's own backend refused it (a permission, a schema
		// being rebuilt by phiguard search install): the client is told,
		// with the backend's SQLSTATE, instead of a closed connection.
		return pgerr.Fatal(b.failureCode, "phiguard could not read its catalog of protected columns for this session: "+b.failure)
	}
	cat := b.share(s.srv, s.database) // catalog_shared.go
	s.catalog.Store(cat)
	s.keepRead(b, cat) // catalog_coalesce.go
	return nil
}

// ownQuery sends one of phiguard's own queries on the backend connection,
// outside any client request, and hands every message of the answer to
// add, up to and including ReadyForQuery.
func (s *Session) ownQuery(msg []byte, add func(typ byte, body []byte) error) error {
	if _, err := s.bw.Write(msg); err != nil {
		return err
	}
	if err := s.flushBackend(); err != nil {
		return err
	}
	for {
		typ, _, err := s.br.Next()
		if err != nil {
			return err
		}
		body, err := s.br.Body()
		if err != nil {
			return err
		}
		if err := add(typ, body); err != nil {
			return err
		}
		if typ == pgwire.BeReadyForQuery {
			return nil
		}
	}
}

// catalogQueryMessage is the catalog query, and latestQuery of b's probes
// after it (under the client's search_path), then keyQuery.
func (s *Session) catalogQueryMessage(b *catalogBuilder) []byte {
	b.coal.epoch, b.coal.readAt = s.noteEpochRead() // catalog_epoch.go
	pol := b.pol
	q := catalogQuery(pol)
	if termRecordsWanted(pol) {
		q += ";\n" + search.RecordsQuery
	}
	return ownMessages(underCatalogPath(q) + latestQuery(b.probes) + pathQuery + nowInQuery(pol) + keyQuery) // catalog_path.go, catalog_latest.go, catalog_path_follow.go, catalog_shadow.go, catalog_coalesce.go
}

// catalogBuilder collects the catalog query's answer.
type catalogBuilder struct {
	pol *policy.Policy
	cat *catalog
	// probes are the names latestQuery asks about, probed how many of
	// its rows came (catalog_latest.go).
	probes []sqlrewrite.TableName
	probed int
	// resolved: a path read's answer of which schema each unqualified
	// name resolves in now (catalog_path_follow.go), "" for none.
	resolved    map[string]string
	failure     string
	failureCode pgerr.Code // the backend's SQLSTATE for failure
	// afterDDL: the read follows the client's DDL, which its answer
	// publishes to the database's other sessions (catalog_epoch.go).
	afterDDL bool
	// names are the database-wide names the read builds (nil for a read
	// of the path alone until a row of them comes), digest the hash of
	// their rows (catalog_shared.go).
	names  *catalogNames
	digest hash.Hash
	coal   readKey // catalog_coalesce.go
}

func newCatalogBuilder(pol *policy.Policy) *catalogBuilder {
	cat := &catalog{byOID: map[uint32]map[int16]*policy.ProtectedColumn{},
		subjects: map[uint32]map[int16]*policy.ProtectedTable{}, tables: map[policy.TableName][]catalogColumn{},
		views: map[policy.TableName]bool{}, encViews: map[policy.TableName]bool{}, oids: map[policy.TableName]uint32{},
		kin: map[policy.TableName]bool{}, attnums: map[uint32]map[int16]bool{}, collations: map[uint32]collationEntry{},
		shared: newCatalogNames()}
	cat.native = cat.nativeType
	if pol != nil {
		cat.namedAsked = encryptedNames(pol) // catalog_unshadowed.go
	}
	return &catalogBuilder{pol: pol, cat: cat, names: cat.shared}
}

// add takes one message of the answer.
func (b *catalogBuilder) add(typ byte, body []byte) error {
	switch typ {
	case pgwire.BeDataRow:
		var row pgproto3.DataRow
		if err := row.Decode(body); err != nil {
			return pgwire.Violation("malformed catalog row from backend")
		} else if ok, err := b.addNameRow(row.Values, body); ok {
			return err // relationsQuery's, columnNamesQuery's, funcOutQuery's, keyQuery's (catalog_shared.go)
		} else if err == nil && len(row.Values) == 4 {
			return b.addCollation(row.Values) // collationQuery's
		} else if err == nil && len(row.Values) == 5 {
			b.addTermRecord(row.Values) // search.RecordsQuery's
			return nil
		} else if err == nil && len(row.Values) == 2 {
			return b.addCatalogOID(row.Values) // relationsQuery's
		} else if err == nil && len(row.Values) == 8 {
			b.addResolved(row.Values) // resolveQuery's
			return nil
		} else if err == nil && len(row.Values) == 7 {
			b.addPathSchema(row.Values[0]) // pathQuery's
			return nil
		} else if err == nil && len(row.Values) == 12 {
			b.addNamedLike(row.Values) // namedLikeQuery's (catalog_unshadowed.go)
			return nil
		} else if err == nil && (len(row.Values) == 9 || len(row.Values) == 10) {
			b.addJudgeOrNowIn(row.Values) // judgesQuery's, nowInQuery's (catalog_shadow.go)
			return nil
		} else if err != nil || len(row.Values) != 13 {
			return pgwire.Violation("malformed catalog row from backend")
		}
		return b.addColumnRow(row.Values)
	case pgwire.BeReadyForQuery:
		if len(body) == 1 {
			b.coal.status = body[0]
		}
	case pgwire.BeErrorResponse:
		msg, _ := pgwire.ErrorField(body, 'M')
		code, _ := pgwire.ErrorField(body, 'C')
		b.failure, b.failureCode = string(msg), pgerr.Code(code)
		if len(code) != 5 {
			b.failureCode = pgerr.InternalError
		}
	}
	return nil
}

// readyForQuery builds a ReadyForQuery message.
func readyForQuery(status byte) []byte {
	out := []byte{pgwire.BeReadyForQuery, 0, 0, 0, 5, status}
	binary.BigEndian.PutUint32(out[1:5], 5)
	return out
}

// viewNamed returns a view of views that a statement names (as its target
// or anywhere else), or "": among the write statements when writes is
// set, else among those that may return a view's rows to the client. An
// unqualified name counts in every schema, as search_path is not trusted.
func viewNamed(views map[policy.TableName]bool, a *sqlrewrite.Analysis, writes bool) string {
	if len(views) == 0 || a == nil || a.Err != nil {
		return ""
	}
	for _, st := range a.Statements {
		if writes && !st.Writes || !writes && !readsRows(&st) {
			continue
		}
		for _, t := range st.Tables {
			for v := range views {
				if v.Name == t.Name && (t.Schema == "" || t.Schema == v.Schema) {
					return v.String()
				}
			}
		}
	}
	return ""
}

// viewWritten returns a view over an encrypted table that a write
// statement names, or "".
func (c *catalog) viewWritten(a *sqlrewrite.Analysis) string {
	if c == nil {
		return ""
	}
	return viewNamed(c.views, a, true)
}

// viewWriteRefusal refuses a write that names a view over an encrypted
// table: the value would reach the table's column unencrypted. It refuses
// any statement that names a view reading an encrypted column too: the
// view's columns come back as ciphertext phiguard cannot tell from other
// text (the RowDescription names the view, not the table), so the client
// would read ciphertext where the plaintext database answers with the value.
func (s *Session) viewWriteRefusal(a *sqlrewrite.Analysis) *pgerr.Error {
	if pe := s.unreadCopyRefusal(); pe != nil { // catalog_fresh.go
		return pe
	}
	a = s.withExecuted(a) // sql_prepared.go
	cat := s.catalog.Load()
	if v := cat.viewWritten(a); v != "" {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"%s is %s a table with encrypted columns: phiguard cannot encrypt values written through it; write to the table itself", v, cat.kinds(v))
	}
	if cat == nil {
		return nil
	}
	if v := viewNamed(cat.encViews, a, false); v != "" {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"%s is %s: phiguard cannot decrypt what it returns; read the table itself", v, cat.readKinds(v))
	}
	if pe := cat.computedRefusal(a); pe != nil { // catalog_computed.go
		return pe
	}
	if pe := cat.judgedRefusal(a); pe != nil { // catalog_judged.go
		return pe
	}
	if pe := cat.madeSinceRefusal(a); pe != nil { // catalog_latest.go
		return pe
	}
	return cat.shadowedWriteRefusal(a, s.policy()) // catalog_shadow.go
}

// kinds and readKinds say what a relation of views is, for a refusal.
func (c *catalog) kinds(v string) string {
	if c.isKin(v) {
		return "a partition, an inheritance child or a parent of"
	}
	return "a view (or has rules) over"
}

func (c *catalog) readKinds(v string) string {
	if c.isKin(v) {
		return "a partition, an inheritance child or a parent of a table with encrypted columns"
	}
	return "a view that reads encrypted columns"
}

func (c *catalog) isKin(v string) bool {
	for t, k := range c.kin {
		if k && t.String() == v {
			return true
		}
	}
	return false
}

// columnNames lists a protected table's columns in attribute order.
func (c *catalog) columnNames(t policy.TableName) []string {
	cols := c.tables[t]
	names := make([]string, len(cols))
	for i, cc := range cols {
		names[i] = cc.name
	}
	return names
}

// columnOrder is what the catalog says of a protected table's columns, for
// the guard of a column list filled from it (sqlrewrite.GuardColumnOrder).
func (c *catalog) columnOrder(t policy.TableName) sqlrewrite.ColumnOrder {
	o := sqlrewrite.ColumnOrder{Table: t}
	if c == nil {
		return o // no OID: the guard refuses
	}
	o.OID = c.oids[t]
	o.Types = make(map[string]sqlrewrite.ColumnType, len(c.tables[t]))
	for _, cc := range c.tables[t] {
		o.Columns = append(o.Columns, sqlrewrite.OrderedColumn{Attnum: cc.attnum, Name: cc.name})
		o.Types[cc.name] = sqlrewrite.ColumnType{Type: cc.typ, OID: cc.typOID, Domain: cc.domain, NoInsert: cc.noInsert}
	}
	return o
}

// orders is columnOrder with the parameter types a Parse declared, for
// the guards (sqlrewrite/guard_slot.go).
func (c *catalog) orders(params func(int) uint32) func(policy.TableName) sqlrewrite.ColumnOrder {
	return func(t policy.TableName) sqlrewrite.ColumnOrder {
		o := c.columnOrder(t)
		o.Params = params
		return o
	}
}

// uninsertable is the first of cols the session's role may not INSERT,
// or nil.
func (c *catalog) uninsertable(cols []*policy.ProtectedColumn) *policy.ProtectedColumn {
	if c == nil {
		return nil
	}
	for _, col := range cols {
		for _, cc := range c.tables[col.Table.Name] {
			if cc.protected == col && cc.noInsert {
				return col
			}
		}
	}
	return nil
}

// copyColumnNames lists a protected table's columns that COPY without a
// column list copies: all but the generated ones, in attribute order.
func (c *catalog) copyColumnNames(t policy.TableName) []string {
	var names []string
	for _, cc := range c.tables[t] {
		if !cc.generated {
			names = append(names, cc.name)
		}
	}
	return names
}
