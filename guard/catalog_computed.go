package guard

import (
	"slices"
	"strconv"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A generated column computed from an encrypted column (ALTER TABLE
// patients ADD COLUMN n int GENERATED ALWAYS AS (length(ssn)) STORED)
// is computed by PostgreSQL on the ciphertext: length(ssn) is the length
// of a cell (65 where the plaintext database stores 6). phiguard refuses
// to add one through itself (sqlrewrite/planner_ddl_expr.go); one that
// another session added, before or after this session read its catalog
// (TestRedTeam31cGeneratedColumnByAnotherSession), is held in three
// places:
//
//   - the catalog lists it (gcols: pg_depend from the generation
//     expression to an encrypted column of its table), and a statement that reads
//     it by name (returns it, filters, sorts, groups or joins on it,
//     JOIN ... USING it, a NATURAL JOIN of its table) is refused (0A000,
//     computedRefusal), as is a view that reads it (encViews);
//   - a result field of it (SELECT *, RETURNING *) is refused (0A000,
//     catalogField);
//   - a statement that names a protected table and reads a column name
//     the catalog did not list in any relation (nor the statement
//     defines) has the catalog read before it (freshBeforeUnknown), so
//     that a generated column added since is refused by the first two:
//     without it, SELECT id FROM patients WHERE n = 6 filtered on the
//     ciphertext's length, with nothing in its result to show it. Inside
//     a pipeline, where the catalog cannot be read, such a statement is
//     refused with 40001 (unknownColumnInSegment).

// computedColumnsCTE finds the generated columns computed from pcols,
// the encrypted columns: PostgreSQL records a generation expression as
// the column's pg_attrdef row, which depends on each column it reads.
const computedColumnsCTE = `gcols(relid, attnum) AS (
  SELECT DISTINCT ad.adrelid, ad.adnum FROM pg_catalog.pg_attrdef ad
  JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND d.objid = ad.oid
  WHERE a.attgenerated <> '' AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
    AND (d.refobjid, d.refobjsubid) IN (SELECT relid, attnum FROM pcols)
)`

// columnNamesQuery lists the name of every column of every relation
// (composite types too: a field of a composite column is named like a
// column; and those of indexes, sequences and TOAST tables, which a
// statement does not read, as leaving them out by joining pg_class made
// the query take 13 ms where it takes 10 on 2,494 relations), each once,
// in rows of one field.
const columnNamesQuery = `SELECT DISTINCT attname::pg_catalog.text FROM pg_catalog.pg_attribute
  WHERE attnum > 0 AND NOT attisdropped`

// funcOutQuery lists the names of the functions' OUT parameters (OUT,
// INOUT, TABLE), each once, in rows of six fields (which no other part
// of the catalog's answer has): a function in FROM names its output
// columns after them (SELECT ... FROM t, jsonb_each(t.meta) WHERE key =
// 'k'), names no relation has, and without them such a statement had a
// catalog read before it, and was refused with 40001 every other time
// inside a pipeline (TestRedTeam32bEverydayColumnNamesInPipeline).
const funcOutQuery = `SELECT DISTINCT u.n, NULL, NULL, NULL, NULL, NULL
  FROM pg_catalog.pg_proc p, ROWS FROM (pg_catalog.unnest(p.proargnames), pg_catalog.unnest(p.proargmodes)) AS u(n, m)
  WHERE p.proargmodes IS NOT NULL AND u.m IN ('o', 'b', 't') AND u.n <> ''`

// addFuncOut takes a row of funcOutQuery.
func (b *catalogBuilder) addFuncOut(v []byte) {
	n := b.own()
	if n.funcOut == nil {
		n.funcOut = map[string]struct{}{}
	}
	n.funcOut[string(v)] = struct{}{}
}

// systemColumn: a name no user column may take (PostgreSQL refuses it:
// "column name ... conflicts with a system column name").
func systemColumn(name string) bool {
	switch name {
	case "tableoid", "ctid", "xmin", "xmax", "cmin", "cmax":
		return true
	}
	return false
}

// knownColumn: a name the catalog lists as a column, a system column's,
// one st defines itself, or, for a statement calling a function in FROM,
// a function's OUT parameter.
func (c *catalog) knownColumn(st *sqlrewrite.Statement, name string) bool {
	if _, ok := c.names().attnames[name]; ok || systemColumn(name) || slices.Contains(st.Defined, name) {
		return true
	}
	_, ok := c.names().funcOut[name]
	return ok && st.FromFunction
}

// addColumnRow takes a row of the catalog query's first part: a column of
// a protected table (or, with attnum 0, a view or kin of one).
func (b *catalogBuilder) addColumnRow(v [][]byte) error {
	oid, _ := strconv.ParseUint(string(v[0]), 10, 32)
	attnum, _ := strconv.ParseInt(string(v[3]), 10, 16)
	typOID, _ := strconv.ParseUint(string(v[8]), 10, 32)
	collation, _ := strconv.ParseUint(string(v[11]), 10, 32)
	tn := policy.TableName{Schema: string(v[1]), Name: string(v[2])}
	if attnum == 0 {
		b.cat.views[tn] = true
		b.cat.kin[tn] = string(v[6]) == "t"
		if string(v[5]) == "t" {
			b.cat.encViews[tn] = true
		}
		return nil
	}
	col, _ := b.pol.Column(tn.Schema, tn.Name, string(v[4]))
	b.noteTable(tn, uint32(oid)) // catalog_computed.go
	if b.cat.attnums[uint32(oid)] == nil {
		b.cat.attnums[uint32(oid)] = map[int16]bool{}
	}
	b.cat.attnums[uint32(oid)][int16(attnum)] = true
	b.cat.tables[tn] = append(b.cat.tables[tn], catalogColumn{name: string(v[4]), attnum: int16(attnum),
		protected: col, hasDefault: string(v[5]) == "t", generated: string(v[6]) == "t",
		typ: string(v[7]), typOID: uint32(typOID), domain: string(v[9]) == "t", noInsert: string(v[10]) == "t",
		collation: uint32(collation), computed: string(v[12]) == "t"})
	b.cat.hasComputed = b.cat.hasComputed || string(v[12]) == "t"
	if t, ok := b.pol.Table(tn.Schema, tn.Name); ok && t.SubjectColumn != "" && t.SubjectColumn == string(v[4]) {
		if b.cat.subjects[uint32(oid)] == nil {
			b.cat.subjects[uint32(oid)] = map[int16]*policy.ProtectedTable{}
		}
		b.cat.subjects[uint32(oid)][int16(attnum)] = t
	}
	if col == nil {
		return nil
	}
	if b.cat.byOID[uint32(oid)] == nil {
		b.cat.byOID[uint32(oid)] = map[int16]*policy.ProtectedColumn{}
	}
	b.cat.byOID[uint32(oid)][int16(attnum)] = col
	return nil
}

// addColumnName takes a row of columnNamesQuery.
func (b *catalogBuilder) addColumnName(v []byte) {
	n := b.own()
	if n.attnames == nil {
		n.attnames = map[string]struct{}{}
	}
	n.attnames[string(v)] = struct{}{}
}

// noteTable takes the OID of a protected table the catalog lists.
func (b *catalogBuilder) noteTable(tn policy.TableName, oid uint32) {
	if _, ok := b.cat.oids[tn]; !ok {
		if b.cat.protNames == nil {
			b.cat.protNames = map[string][]policy.TableName{}
		}
		b.cat.protNames[tn.Name] = append(b.cat.protNames[tn.Name], tn)
	}
	b.cat.oids[tn] = oid
}

// computedColumn names a generated column computed from an encrypted
// column (table.column), or "".
func (c *catalog) computedColumn(table uint32, attnum int16) string {
	if c == nil || !c.hasComputed || c.attnums[table] == nil {
		return ""
	}
	for tn, cols := range c.tables {
		if c.oids[tn] != table {
			continue
		}
		for _, cc := range cols {
			if cc.attnum == attnum && cc.computed {
				return tn.String() + "." + policy.QuoteIdentifier(cc.name)
			}
		}
	}
	return ""
}

func computedError(col string) *pgerr.Error {
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"%s is a generated column computed from an encrypted column: PostgreSQL computes it on the ciphertext, so phiguard cannot return it or compare it; read the encrypted column itself", col)
}

// protectedNamed lists the protected tables the catalog lists that st
// names (an unqualified name in any schema).
func (c *catalog) protectedNamed(st *sqlrewrite.Statement) []policy.TableName {
	var out []policy.TableName
	for _, t := range st.Tables {
		if t.Schema == "" && bound(st.CTEs, t.Name) {
			continue
		}
		for _, tn := range c.protNames[t.Name] {
			if t.Schema == "" || t.Schema == tn.Schema {
				out = append(out, tn)
			}
		}
	}
	return out
}

// computedRefusal refuses a statement that reads a generated column
// computed from an encrypted column of a protected table it names.
func (c *catalog) computedRefusal(a *sqlrewrite.Analysis) *pgerr.Error {
	if c == nil || !c.hasComputed || a == nil || a.Err != nil {
		return nil
	}
	for i := range a.Statements {
		st := &a.Statements[i]
		if !st.Writes && !readsRows(st) {
			continue
		}
		for _, tn := range c.protectedNamed(st) {
			for _, cc := range c.tables[tn] {
				if cc.computed && (st.Natural || slices.Contains(st.Columns, cc.name)) {
					return computedError(tn.String() + "." + policy.QuoteIdentifier(cc.name))
				}
			}
		}
	}
	return nil
}

// unknownColumnName returns a column name that a statement naming a
// protected table reads and that no relation had when the catalog was
// read (nor the statement defines), "NATURAL JOIN" for a natural join
// of a protected table (which reads the columns both sides have, a
// column added since included), or "".
func (c *catalog) unknownColumnName(a *sqlrewrite.Analysis) string {
	if c == nil || c.names().attnames == nil || a == nil || a.Err != nil {
		return ""
	}
	for i := range a.Statements {
		st := &a.Statements[i]
		if !st.Writes && !readsRows(st) || len(st.Columns) == 0 && !st.Natural {
			continue
		}
		if len(c.protectedNamed(st)) == 0 {
			continue
		}
		if st.Natural {
			return "NATURAL JOIN"
		}
		for _, name := range st.Columns {
			if !c.knownColumn(st, name) {
				return name
			}
		}
	}
	return ""
}

// unknownColumnInSegment refuses a Parse inside a pipeline segment (after
// its first message, where the catalog cannot be read) of a statement
// naming a protected table that reads a column name the catalog lacks:
// a generated column another session added since over an encrypted
// column would be filtered on or returned as computed on the ciphertext.
// As for a relation (passUnknownRead), met again after the next read it
// runs. Client pump.
func (s *Session) unknownColumnInSegment(a *sqlrewrite.Analysis) *pgerr.Error {
	if s.atSegmentStart || s.srv.protect == nil || a == nil {
		return nil
	}
	cat := s.catalog.Load()
	name := cat.unknownColumnName(s.withExecuted(a)) // an EXECUTE with its PREPARE's names (sql_prepared.go)
	if name == "" || s.passUnknownRead("column "+name, cat) {
		return nil
	}
	if name != "NATURAL JOIN" {
		name = "column " + policy.QuoteIdentifier(name)
	}
	return pgerr.Newf(pgerr.SerializationFailure,
		"a statement naming a table with encrypted columns reads %s, which phiguard did not know when this pipeline began, and phiguard reads the tables' columns only between pipelines: this statement did not run; run it again after the next Sync", name)
}

// readsRows: the statement may send rows of the relations it names to
// the client (returnsRows), or store them in a new relation (CREATE
// TABLE AS, CREATE MATERIALIZED VIEW AS: TestRedTeam31cCreateTableAsFromView,
// a view over an encrypted column copied the length of a ciphertext into
// a plain table, served from it then).
func readsRows(st *sqlrewrite.Statement) bool { return returnsRows(st.Kind) || st.Copies }

// returnsRows: statements of the kind may send rows of the relations they
// name to the client (RETURNING, COPY (query), a cursor, EXECUTE).
func returnsRows(k sqlrewrite.Kind) bool {
	switch k {
	case sqlrewrite.KindSelect, sqlrewrite.KindInsert, sqlrewrite.KindUpdate, sqlrewrite.KindDelete, sqlrewrite.KindMerge,
		sqlrewrite.KindCopy, sqlrewrite.KindCursor, sqlrewrite.KindPrepared, sqlrewrite.KindUnknown:
		return true
	}
	return false
}
