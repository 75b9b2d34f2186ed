package guard

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Objects is what the access rewriter knows of a database's own objects
// (sqlrewrite.Objects), read from its catalog: every relation of every
// schema and its kind, the columns of every table by attribute number, the
// built-in functions and operators that are safe to call, and the names
// that shadow them. Only sessions whose role has rules read it, once at
// start and again after DDL. It is immutable once built.
type Objects struct {
	version string
	stamp   string // stampExpr when read
	rels    map[relKey]*relation
	byName  map[string][]*relation // unqualified name → relations in any schema
	byOID   map[uint32]*relation
	// safeFuncs are pg_catalog function names whose every overload is
	// immutable or stable, or that phiguard allows although volatile,
	// minus the deny list. shadowFuncs are function names some other
	// schema defines too: an unqualified call may resolve to that one.
	safeFuncs, shadowFuncs map[string]bool
	catalogOps, shadowOps  map[string]bool
}

type relKey struct{ schema, name string }

type relation struct {
	schema, name string
	kind         sqlrewrite.RelationKind
	columns      []string          // attnum order, dropped ones left out
	attnums      map[int16]string  // attnum → column name
	types        map[string]string // column → format_type
}

var _ sqlrewrite.Objects = (*Objects)(nil)

// RelationKind implements sqlrewrite.Objects.
func (o *Objects) RelationKind(schema, name string) sqlrewrite.RelationKind {
	if o == nil {
		return sqlrewrite.RelationUnknown
	}
	if schema != "" {
		if r := o.rels[relKey{schema, name}]; r != nil {
			return r.kind
		}
		return sqlrewrite.RelationUnknown
	}
	rs := o.byName[name]
	if len(rs) == 0 {
		return sqlrewrite.RelationUnknown
	}
	for _, r := range rs {
		if r.kind != sqlrewrite.RelationTable {
			return sqlrewrite.RelationOther
		}
	}
	return sqlrewrite.RelationTable
}

// Columns implements sqlrewrite.Objects.
func (o *Objects) Columns(schema, name string) ([]string, bool) {
	if o == nil {
		return nil, false
	}
	var r *relation
	if schema != "" {
		r = o.rels[relKey{schema, name}]
	} else if rs := o.byName[name]; len(rs) == 1 {
		r = rs[0]
	}
	if r == nil || r.kind != sqlrewrite.RelationTable {
		return nil, false
	}
	return slices.Clone(r.columns), true
}

// ColumnType implements sqlrewrite.Objects.
func (o *Objects) ColumnType(schema, table, column string) (string, bool) {
	if o == nil {
		return "", false
	}
	var r *relation
	if schema != "" {
		r = o.rels[relKey{schema, table}]
	} else if rs := o.byName[table]; len(rs) == 1 {
		r = rs[0]
	}
	if r == nil || r.kind != sqlrewrite.RelationTable {
		return "", false
	}
	t, ok := r.types[column]
	return t, ok
}

// RelationSchemas implements sqlrewrite.Objects.
func (o *Objects) RelationSchemas(name string) []string {
	if o == nil {
		return nil
	}
	out := make([]string, 0, len(o.byName[name]))
	for _, r := range o.byName[name] {
		out = append(out, r.schema)
	}
	slices.Sort(out)
	return out
}

// FunctionSafe implements sqlrewrite.Objects.
func (o *Objects) FunctionSafe(schema, name string) bool {
	if o == nil || !o.safeFuncs[name] {
		return false
	}
	switch schema {
	case "pg_catalog":
		return true
	case "":
		return !o.shadowFuncs[name]
	}
	return false
}

// OperatorSafe implements sqlrewrite.Objects.
func (o *Objects) OperatorSafe(schema, name string) bool {
	if o == nil || !o.catalogOps[name] {
		return false
	}
	switch schema {
	case "pg_catalog":
		return true
	case "":
		return !o.shadowOps[name]
	}
	return false
}

// Version implements sqlrewrite.Objects: the SHA-256 of everything read,
// so two sessions that read the same catalog share cached rewrites.
func (o *Objects) Version() string {
	if o == nil {
		return ""
	}
	return o.version
}

// Column names a result field's column (RowDescription's table OID and
// attribute number): its schema, table and column name.
func (o *Objects) Column(table uint32, attnum int16) (schema, name, column string, ok bool) {
	return o.column(table, attnum)
}

// column is Column.
func (o *Objects) column(table uint32, attnum int16) (schema, name, column string, ok bool) {
	if o == nil || table == 0 || attnum <= 0 {
		return "", "", "", false
	}
	r := o.byOID[table]
	if r == nil {
		return "", "", "", false
	}
	c, ok := r.attnums[attnum]
	return r.schema, r.name, c, ok
}

// volatileAllowed are volatile built-ins applications commonly call that
// cannot run SQL, touch files or change settings.
var volatileAllowed = []string{"random", "gen_random_uuid", "nextval", "currval", "clock_timestamp",
	"timeofday", "statement_timestamp", "transaction_timestamp", "now", "uuid_generate_v4"}

// objectsQuery reads everything Objects holds in one round trip, as rows
// of (what, a, b, c, d) text, in a fixed order so equal catalogs hash
// equal:
//
//	r oid schema name relkind   every relation but indexes; relkind 'h' for a
//	                            partition or inheritance child, which a row rule
//	                            on its parent would not cover if read directly
//	a oid attnum name type      columns of ordinary and partitioned tables
//	f name safe                 pg_catalog function names; safe when no overload is volatile
//	F name                      function names some other schema defines
//	o name                      pg_catalog operator names
//	O name                      operator names some other schema defines
const objectsQuery = `SELECT * FROM (
SELECT 's' AS w, (` + stampExpr + `) AS a, NULL AS b, NULL AS c, NULL AS d
UNION ALL
SELECT 'r' AS w, c.oid::text AS a, n.nspname::text AS b, c.relname::text AS c,
       CASE WHEN c.relispartition OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)
            THEN 'h' ELSE c.relkind::text END AS d
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind NOT IN ('i', 'I')
UNION ALL
SELECT 'a', a.attrelid::text, a.attnum::text, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'f', p.proname::text, bool_and(p.provolatile <> 'v')::text, NULL, NULL
  FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace GROUP BY p.proname
UNION ALL
SELECT DISTINCT 'F', p.proname::text, NULL, NULL, NULL
  FROM pg_catalog.pg_proc p WHERE p.pronamespace <> 'pg_catalog'::regnamespace
UNION ALL
SELECT DISTINCT 'o', o.oprname::text, NULL, NULL, NULL
  FROM pg_catalog.pg_operator o WHERE o.oprnamespace = 'pg_catalog'::regnamespace
UNION ALL
SELECT DISTINCT 'O', o.oprname::text, NULL, NULL, NULL
  FROM pg_catalog.pg_operator o WHERE o.oprnamespace <> 'pg_catalog'::regnamespace
) q ORDER BY w COLLATE "C", a COLLATE "C", b COLLATE "C", c COLLATE "C"`

// stampExpr changes whenever any catalog row Objects is made of changes:
// every DDL writes new row versions (new xmin) or removes some (count).
// Reading it costs a scan of those catalogs, not their transfer and
// parsing, so a session can reuse another's Objects when the stamp agrees.
const stampExpr = `SELECT string_agg(x, '/') FROM (
SELECT count(*)::text || '.' || coalesce(sum(xmin::text::bigint), 0)::text AS x FROM pg_catalog.pg_class
UNION ALL SELECT count(*)::text || '.' || coalesce(sum(xmin::text::bigint), 0)::text FROM pg_catalog.pg_attribute
UNION ALL SELECT count(*)::text || '.' || coalesce(sum(xmin::text::bigint), 0)::text FROM pg_catalog.pg_proc
UNION ALL SELECT count(*)::text || '.' || coalesce(sum(xmin::text::bigint), 0)::text FROM pg_catalog.pg_operator
UNION ALL SELECT count(*)::text || '.' || coalesce(sum(xmin::text::bigint), 0)::text FROM pg_catalog.pg_namespace) s`

// stampQuery reads only the stamp.
const stampQuery = stampExpr

// ObjectsQuery is the SQL that reads a database's Objects; feed each row
// of its answer, as text values, to an ObjectsBuilder. phiguard explain
// uses it over its own connection.
func ObjectsQuery() string { return objectsQuery }

// ObjectsBuilder collects the answer of ObjectsQuery.
type ObjectsBuilder struct {
	o       *Objects
	attrs   []attr
	sum     hashWriter
	failure string
}

type hashWriter interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

// NewObjectsBuilder starts an empty Objects.
func NewObjectsBuilder() *ObjectsBuilder {
	return &ObjectsBuilder{sum: sha256.New(), o: &Objects{
		rels: map[relKey]*relation{}, byName: map[string][]*relation{}, byOID: map[uint32]*relation{},
		safeFuncs: map[string]bool{}, shadowFuncs: map[string]bool{},
		catalogOps: map[string]bool{}, shadowOps: map[string]bool{},
	}}
}

// AddRow takes one row of ObjectsQuery's answer (five text values, NULL
// as nil).
func (b *ObjectsBuilder) AddRow(v [][]byte) error {
	if len(v) != 5 || len(v[0]) != 1 {
		return fmt.Errorf("malformed catalog row")
	}
	if v[0][0] != 's' {
		for _, x := range v {
			b.sum.Write(x)
			b.sum.Write([]byte{0})
		}
	}
	o := b.o
	switch v[0][0] {
	case 's':
		o.stamp = string(v[1])
	case 'r':
		oid, err := strconv.ParseUint(string(v[1]), 10, 32)
		if err != nil {
			return fmt.Errorf("malformed relation oid")
		}
		r := &relation{schema: string(v[2]), name: string(v[3]), kind: sqlrewrite.RelationOther,
			attnums: map[int16]string{}, types: map[string]string{}}
		if k := string(v[4]); k == "r" || k == "p" {
			r.kind = sqlrewrite.RelationTable
		}
		o.rels[relKey{r.schema, r.name}] = r
		o.byName[r.name] = append(o.byName[r.name], r)
		o.byOID[uint32(oid)] = r
	case 'a':
		oid, err1 := strconv.ParseUint(string(v[1]), 10, 32)
		n, err2 := strconv.ParseInt(string(v[2]), 10, 16)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("malformed column row")
		}
		// Attribute rows come before relation rows: keep them until
		// Objects.
		b.attrs = append(b.attrs, attr{uint32(oid), int16(n), string(v[3]), string(v[4])})
	case 'f':
		name := string(v[1])
		if (string(v[2]) == "true" && !sqlrewrite.IsDeniedFunction(name)) || slices.Contains(volatileAllowed, name) {
			o.safeFuncs[name] = true
		}
	case 'F':
		o.shadowFuncs[string(v[1])] = true
	case 'o':
		o.catalogOps[string(v[1])] = true
	case 'O':
		o.shadowOps[string(v[1])] = true
	}
	return nil
}

// attr is a column whose relation's row has not been read yet.
type attr struct {
	oid       uint32
	attnum    int16
	name, typ string
}

// Objects finishes the build.
func (b *ObjectsBuilder) Objects() *Objects {
	o := b.o
	slices.SortFunc(b.attrs, func(x, y attr) int {
		if x.oid != y.oid {
			return cmp.Compare(x.oid, y.oid)
		}
		return cmp.Compare(x.attnum, y.attnum)
	})
	for _, a := range b.attrs {
		if r := o.byOID[a.oid]; r != nil {
			r.columns = append(r.columns, a.name)
			r.attnums[a.attnum] = a.name
			r.types[a.name] = a.typ
		}
	}
	b.attrs = nil
	o.version = hex.EncodeToString(b.sum.Sum(nil))
	return o
}

// add takes one backend message of the answer (the proxy's own read).
func (b *ObjectsBuilder) add(typ byte, body []byte) error {
	switch typ {
	case pgwire.BeDataRow:
		var row pgproto3.DataRow
		if err := row.Decode(body); err != nil {
			return pgwire.Violation("malformed catalog row from backend")
		}
		if err := b.AddRow(row.Values); err != nil {
			return pgwire.Violation(err.Error() + " from backend")
		}
	case pgwire.BeErrorResponse:
		msg, _ := pgwire.ErrorField(body, 'M')
		b.failure = string(msg)
	}
	return nil
}
