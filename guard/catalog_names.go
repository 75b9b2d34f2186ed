package guard

import (
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Relations another session makes after this session read its catalog
// (issues 12 and 13). The catalog knows the views that read an encrypted
// column when it is read (encViews, refused with 0A000), but a view, a
// materialized view or a table copied with CREATE TABLE AS that a DBA
// makes later is unknown to it: its RowDescription names the new
// relation's OID, so its cells, and values computed from them (length of
// a ciphertext), were served as if plain. phiguard holds against that in
// two places, neither a round trip for a statement over known relations:
//
//   - at the statement: the catalog lists the name of every relation
//     (tables, views, materialized views, foreign tables, sequences, in
//     every schema) with its schema, and a Query or Parse that names one
//     it does not list (a qualified name in its schema, an unqualified
//     one in a schema on the search path), other than a WITH query's
//     name, makes it stale, so it is read
//     before the statement (awaitFreshCatalog): a new view over an
//     encrypted column is then refused by name like an old one, computed
//     columns included (freshBeforeUnknown). A name is one map lookup.
//   - at the result: a value phiguard does not decrypt that holds a
//     well-formed cell (keys.ContainsCell) is refused (strayCellRefusal):
//     the backstop for what keeps its name or has none in a statement (a
//     view replaced with CREATE OR REPLACE VIEW, a table given an ON
//     SELECT rule, a protected table dropped and made again, a table of
//     copied cells, a function returning one, DDL between the read and
//     the statement, or a Parse inside a pipeline, where the catalog is
//     not read).
//
// Writes: a write through a view made since is refused by the name
// check; one through a view replaced since (same name and OID) has the
// catalog read before it (writesThroughRules): a round trip for a write
// through a view or a table with rules only.
//
// What none sees: a value computed from an encrypted column (not a
// cell) through a relation that keeps its name (CREATE OR REPLACE VIEW
// ... length(ssn)), through a function, or through a relation made
// since under an unqualified name the catalog lists in a later schema
// of the session's search path (catalog_path_follow.go), and a rule
// added since to a table that had none (docs/catalog.md).

// relationsQuery lists every relation a statement may name, one row
// each (its schema, its name, and whether it is a view or has rules, + after
// when it has a column of labelTypes or an enum),
// and, in rows of two fields, the highest relation OID (a NULL first
// field): one made after the read has a higher one (until the OID
// counter wraps), which tells a relation made since (newRelation).
//
// Rows of two fields with an empty first one carry the OID of a function
// that runs SQL given as text (sqlrewrite.SQLTextFunctionsWhere), which
// fastpathRefusal refuses.
func relationsQuery() string {
	return `SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text,
  (c.relhasrules OR c.relkind = 'v')::pg_catalog.text OPERATOR(pg_catalog.||) CASE WHEN l.attrelid IS NULL THEN '' ELSE '+' END
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN (WITH RECURSIVE edge(src, dst) AS MATERIALIZED (
      SELECT t.typelem, t.oid FROM pg_catalog.pg_type t WHERE t.typelem <> 0
      UNION ALL SELECT t.typbasetype, t.oid FROM pg_catalog.pg_type t WHERE t.typbasetype <> 0
      UNION ALL SELECT f.atttypid, t.oid FROM pg_catalog.pg_type t JOIN pg_catalog.pg_attribute f ON f.attrelid = t.typrelid
        WHERE t.typtype = 'c' AND f.attnum > 0 AND NOT f.attisdropped
          AND (f.atttypid >= 16384 OR f.atttypid IN (` + labelTypes + `, ` + labelArrays + `))
      UNION ALL SELECT r.rngsubtype, r.rngtypid FROM pg_catalog.pg_range r
      UNION ALL SELECT r.rngsubtype, r.rngmultitypid FROM pg_catalog.pg_range r),
    lt(oid) AS (SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typtype = 'e' OR t.oid IN (` + labelTypes + `)
      UNION SELECT e.dst FROM edge e JOIN lt ON lt.oid = e.src)
    SELECT DISTINCT a.attrelid FROM pg_catalog.pg_attribute a
    WHERE a.attnum > 0 AND NOT a.attisdropped AND a.atttypid IN (SELECT lt.oid FROM lt)) l ON l.attrelid = c.oid
  WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S');
SELECT '', p.oid::pg_catalog.text FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE ` + sqlrewrite.SQLTextFunctionsWhere() + `
UNION ALL
SELECT NULL, pg_catalog.max(c.oid)::pg_catalog.text FROM pg_catalog.pg_class c`
}

// labelTypes are the OIDs of the reg* types (regproc, regprocedure,
// regoper, regoperator, regclass, regtype, regconfig, regdictionary,
// regnamespace, regrole, regcollation): a string constant compared with
// a column of one, or of an enum, becomes an OID when PostgreSQL
// analyses the text, so a relation with such a column is marked (the
// third field ends in +) and a reused plan does not hold for a text
// naming it with a string constant (labelsNamed). So are money (790) and
// xml (142): such a constant is read under lc_monetary or xmloption,
// which the backend does not report (sqlrewrite's SettingsFree). A
// column's type reaches one through arrays, domains, a composite type's
// fields and ranges, at any depth ((c).m = '1,234' of a composite
// column's money field: TestRedTeam33aMoneyInComposite).
const labelTypes = "24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191, 790, 142"

// labelArrays are labelTypes' array types: with them and the types of
// the database's own (OIDs from 16384), the only types of a composite
// type's field through which its type reaches one of labelTypes or an
// enum (relationsQuery: a filter that keeps the read of the fields of
// every table's row type small).
const labelArrays = "1008, 1028, 2207, 2208, 2209, 2210, 2211, 3735, 3770, 4090, 4097, 4192, 791, 143"

// relName is what the catalog keeps of a relation name: the first
// schema it was read in (an index, catalog.schemas), whether that
// schema's relation is a view or has rules (own), and whether any of the
// name is (rules). The name's relations in other schemas are kept in
// catalog.more, eight bytes each: a database of a schema per tenant
// holds many.
type relName struct {
	schema     int32
	own, rules bool
	labels     bool // that schema's relation has a column of labelTypes or an enum
}

// relSchema is a relation of a name in another schema than relName's.
type relSchema struct {
	schema        int32
	rules, labels bool
}

// addRelation takes a row of relationsQuery of three fields: a relation.
func (b *catalogBuilder) addRelation(v [][]byte) {
	c := b.own()
	rules, labels := strings.HasPrefix(string(v[2]), "true"), strings.HasSuffix(string(v[2]), "+") // a bool cast to text, + when labels
	idx, ok := c.schemas[string(v[0])]
	if !ok {
		idx = int32(len(c.schemas))
		c.schemas[string(v[0])] = idx
	}
	name := string(v[1])
	e, seen := c.relations[name]
	if !seen {
		c.relations[name] = relName{schema: idx, own: rules, rules: rules, labels: labels}
		return
	}
	if c.more == nil {
		c.more = map[string][]relSchema{}
	}
	c.more[name] = append(c.more[name], relSchema{schema: idx, rules: rules, labels: labels})
	e.rules = e.rules || rules
	c.relations[name] = e
}

// addCatalogOID takes a row of relationsQuery of two fields: a function
// running SQL given as text, or the highest relation OID; or one of
// latestQuery (catalog_latest.go).
func (b *catalogBuilder) addCatalogOID(v [][]byte) error {
	if len(v[0]) > 0 { // a name: a row of latestQuery
		b.addLatest(v[1])
		return nil
	}
	oid, err := strconv.ParseUint(string(v[1]), 10, 32)
	if err != nil {
		return pgwire.Violation("malformed catalog row from backend")
	}
	if v[0] != nil { // an empty name: a function running SQL given as text
		n := b.own()
		if n.sqlText == nil {
			n.sqlText = map[uint32]bool{}
		}
		n.sqlText[uint32(oid)] = true
		return nil
	}
	b.cat.maxOID = uint32(oid)
	return nil
}

// knows reports whether the catalog lists a relation the statement names
// as t: a schema-qualified name in that schema, an unqualified one in a
// schema on the session's search path when the catalog was read
// (catalog_path_follow.go), one in pg_temp (the session's own temporary
// schema, whose relations only its own DDL makes) in any schema.
func (c *catalog) knows(t sqlrewrite.TableName) bool {
	e, ok := c.names().relations[t.Name]
	if !ok || t.Schema == "pg_temp" {
		return ok
	}
	if t.Schema == "" {
		return c.onPath(e, t.Name) // catalog_path_follow.go
	}
	_, ok = c.inSchema(e, t)
	return ok
}

// inSchema finds the relation of e's name in t's schema: whether it is a
// view or has rules, and whether there is one.
func (c *catalog) inSchema(e relName, t sqlrewrite.TableName) (rules, ok bool) {
	idx, ok := c.names().schemas[t.Schema]
	switch {
	case !ok:
		return false, false
	case e.schema == idx:
		return e.own, true
	}
	for _, r := range c.names().more[t.Name] {
		if r.schema == idx {
			return r.rules, true
		}
	}
	return false, false
}

// hasRules reports whether a relation the statement names as t was a
// view or had rules when the catalog was read (for an unqualified name,
// one of that name in any schema).
func (c *catalog) hasRules(t sqlrewrite.TableName) bool {
	e, ok := c.names().relations[t.Name]
	if !ok || t.Schema == "" || t.Schema == "pg_temp" {
		return e.rules
	}
	rules, _ := c.inSchema(e, t)
	return rules
}

// unknownRelation returns a relation name a's statements name that the
// catalog does not list (and no WITH clause of the statement binds), or
// "". Only statements that may return rows, copy them (CREATE TABLE AS:
// readsRows) or write count: other DDL has the catalog read after it
// anyway. writes: only statements that write.
func (c *catalog) unknownRelation(a *sqlrewrite.Analysis, writes bool) string {
	if c == nil || c.names().relations == nil || a == nil || a.Err != nil {
		return ""
	}
	for _, st := range a.Statements {
		if !st.Writes && (writes || !readsRows(&st)) {
			continue
		}
		for _, t := range st.Tables {
			if c.knows(t) || t.Schema == "" && bound(st.CTEs, t.Name) {
				continue
			}
			return t.String()
		}
	}
	return ""
}

// writesThroughRules: one of a's statements writes and names a relation
// that was a view, or had rules, when the catalog was read. Another
// session may have replaced it since (CREATE OR REPLACE VIEW over an
// encrypted table) to take the written value to an encrypted column in
// clear, and its name and OID stay, so such a write has the catalog read
// before it (at its Parse or Query, and before each Bind of a named
// statement: bindReprepares), for viewWriteRefusal to decide on the
// fresh one. A write through a view is rare; a write to a table without
// rules costs a map lookup.
func (c *catalog) writesThroughRules(a *sqlrewrite.Analysis) bool {
	if c == nil || a == nil || a.Err != nil {
		return false
	}
	for _, st := range a.Statements {
		if !st.Writes {
			continue
		}
		for _, t := range st.Tables {
			if c.hasRules(t) && !(t.Schema == "" && bound(st.CTEs, t.Name)) {
				return true
			}
		}
	}
	return false
}

func bound(ctes []string, name string) bool {
	for _, c := range ctes {
		if c == name {
			return true
		}
	}
	return false
}

// freshBeforeUnknown marks the catalog stale before a Query or Parse that
// names a relation it does not list, for awaitFreshCatalog to read it
// first: another session may have made it since, over an encrypted
// column. A statement that names one that does not exist costs one read
// more. A write through a view or a table with rules too
// (writesThroughRules). Client pump.
func (s *Session) freshBeforeUnknown(typ byte, a *sqlrewrite.Analysis) {
	if typ != pgwire.FeQuery && typ != pgwire.FeParse || s.srv.protect == nil {
		return
	}
	s.probeNames = nil
	s.noteSQLPrepares(a)  // sql_prepared.go
	a = s.withExecuted(a) // an EXECUTE with its PREPARE's names
	cat := s.catalog.Load()
	if cat.unknownRelation(a, false) != "" {
		s.probeNames = cat.unknownNames(a) // catalog_latest.go
		s.catalogStale.Store(true)
	} else if cat.writesThroughRules(a) || cat.unknownColumnName(a) != "" || s.pathChangedWithin(a) { // catalog_computed.go, catalog_path_follow.go
		s.catalogStale.Store(true)
	} else if s.pathStale || cat.uncheckedName(a) {
		s.pathRecheck = a // the path alone, then this statement's names again (readPathFirst)
	}
}

// unknownWriteInSegment refuses a Parse inside a pipeline segment (after
// its first message, where awaitFreshCatalog cannot read the catalog) of
// a write that names a relation the catalog does not list: a view
// another session made since over an encrypted table would take the
// value there in clear (a pgx batch of SELECT 1 and an INSERT through
// it did). Run again after the next Sync, the Parse starts a segment and
// the catalog is read first. The cost: a pipeline that makes a table
// and writes to it in one segment (libpq pipeline mode) is refused too.
// Client pump.
func (s *Session) unknownWriteInSegment(a *sqlrewrite.Analysis) *pgerr.Error {
	if s.atSegmentStart || s.srv.protect == nil || a == nil {
		return nil
	}
	a = s.withExecuted(a) // an EXECUTE with its PREPARE's names (sql_prepared.go)
	cat := s.catalog.Load()
	if name := cat.unknownRelation(a, true); name != "" {
		return pgerr.Newf(pgerr.SerializationFailure,
			"%s is not a relation phiguard knew when this pipeline began, and phiguard reads which relations are views over encrypted tables only between pipelines: this write did not run; run it again after the next Sync", name)
	}
	name := cat.unknownRelation(a, false)
	if name == "" || s.passUnknownRead(name, cat) {
		return nil
	}
	return pgerr.Newf(pgerr.SerializationFailure,
		"%s is not a relation phiguard knew when this pipeline began, and phiguard reads which relations are views over encrypted columns only between pipelines: this statement did not run; run it again after the next Sync", name)
}

// passUnknownRead: a read inside a pipeline naming a relation the
// catalog lacks is refused (a pgx batch of SELECT 1 and a read of a view
// made since of length(s) served 65 where PostgreSQL answers 6,
// TestRedTeam31cNewViewReadInPipeline), and the catalog is read at the
// next segment's start (freshBeforeUnknown marked it stale). Met again
// after that read, which still lacks it (a name that does not exist),
// the read runs once, for PostgreSQL to answer it (42P01), so that a
// client retrying on 40001 does not retry a typo forever. Client pump.
func (s *Session) passUnknownRead(name string, cat *catalog) bool {
	cat = cat.wholeRead() // a read of the path alone lists no relation anew (readPathFirst)
	if prev, ok := s.unknownReads[name]; ok && prev != cat {
		delete(s.unknownReads, name)
		return true
	}
	if s.unknownReads == nil {
		s.unknownReads = map[string]*catalog{}
	}
	if len(s.unknownReads) > 64 {
		clear(s.unknownReads)
	}
	s.unknownReads[name] = cat
	return false
}

// newRelation: a result field of a relation made after the catalog was
// read (its OID is higher than any the read saw).
func (c *catalog) newRelation(table uint32) bool {
	return c != nil && c.maxOID != 0 && table > c.maxOID
}

// hasLabels reports whether the relation a statement names as t (with
// its schema) had a column of an enum or a reg* type when the catalog
// was read (labelTypes).
func (c *catalog) hasLabels(t sqlrewrite.TableName) bool {
	e, ok := c.names().relations[t.Name]
	idx, known := c.names().schemas[t.Schema]
	switch {
	case !ok || !known:
		return false
	case e.schema == idx:
		return e.labels
	}
	for _, r := range c.names().more[t.Name] {
		if r.schema == idx {
			return r.labels
		}
	}
	return false
}
