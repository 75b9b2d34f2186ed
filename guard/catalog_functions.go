package guard

import (
	"slices"
	"strings"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// A function called in FROM without a column definition list has its
// result's columns: one named after the alias (or the function) for a
// scalar, a composite type's attributes, the OUT parameters of a
// function that has them. In SELECT ... FROM people WHERE EXISTS
// (SELECT 1 FROM generate_series(1, 2) g WHERE tag = 't1'), tag is
// people.tag, encrypted, only if generate_series has no result column
// called tag, which the statement does not tell: the planner lists the
// function among the inner items that must lack the name
// (sqlrewrite.Plan.Unshadowed), and the catalog answers for it from the
// functions it lists as ones whose result may have such a column
// (namedLikeFunctionsQuery). Unlisted, a function of that name surely
// lacks it; listed, the statement is refused as for a table that has it
// (TestNameBindingDifferential: refused in stop 36 for want of this).

// namedLikeFunctionsQuery lists, in namedLikeQuery's twelve fields
// (schema, function, column, the three again, the isolation, then a
// kind), the functions whose result may have a column named one of
// names (quoted literals):
//   - kind 'function', column named: a function of that name (a
//     scalar's column is named after it), or one with an argument of
//     that name (OUT, INOUT and TABLE parameters name the columns; an IN
//     one is listed too, which costs nothing but a refusal);
//   - kind 'function', column NULL: one whose result's columns its
//     definition does not tell (a domain, which may be over a
//     composite; anyelement and the like, which unnest(ARRAY[p]) makes
//     a table's row; record without OUT parameters);
//   - kind 'returns', column NULL, with the schema and name of the
//     relation or composite type whose row it returns in the ninth and
//     tenth fields: its columns are that relation's, which
//     namedLikeQuery lists when one is named so;
//   - kind 'function', column NULL, for a domain over a composite type
//     (or over a domain): dc(x) in FROM is a cast to dc when no function
//     dc takes x (func_get_detail's FUNCDETAIL_COERCION), its columns the
//     composite type's (red team 37f: dc('(1,t1)') x WHERE tag = 't1'
//     sent 't1' encrypted, 0 rows where PostgreSQL answers 30).
//
// Each branch is a scan of pg_proc joined by hash: a lateral subquery
// per function had an estimated cost past jit_above_cost, and compiling
// it took 30 ms of a 4 ms read on a database of 8,000 functions.
func namedLikeFunctionsQuery(names []string) string {
	list := "ARRAY[" + strings.Join(names, ", ") + "]::pg_catalog.text[]"
	row := func(col, kind, rel string) string {
		return `SELECT n.nspname::pg_catalog.text, p.proname::pg_catalog.text, ` + col + `, n.nspname::pg_catalog.text, p.proname::pg_catalog.text, ` + col + `,
  pg_catalog.current_setting('transaction_isolation'), '` + kind + `', ` + rel + `, NULL, NULL
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace`
	}
	return row("x.col", "function", "NULL, NULL") + `
  JOIN pg_catalog.unnest(` + list + `) x(col) ON x.col = p.proname::pg_catalog.text OR x.col = ANY (p.proargnames)
  WHERE p.proname::pg_catalog.text = ANY (` + list + `) OR p.proargnames OPERATOR(pg_catalog.&&) ` + list + `
UNION ALL ` + row("NULL", "function", "NULL, NULL") + `
  JOIN pg_catalog.pg_type r ON r.oid = p.prorettype
  WHERE r.typtype = 'd'
    OR r.oid IN ('pg_catalog.anyelement'::pg_catalog.regtype, 'pg_catalog.anynonarray'::pg_catalog.regtype,
      'pg_catalog.anycompatible'::pg_catalog.regtype, 'pg_catalog.anycompatiblenonarray'::pg_catalog.regtype)
    OR r.oid = 'pg_catalog.record'::pg_catalog.regtype
      AND NOT COALESCE(p.proargmodes OPERATOR(pg_catalog.&&) '{o,b,t}'::pg_catalog."char"[], false)
UNION ALL ` + row("NULL", "returns", "rn.nspname::pg_catalog.text, rc.relname::pg_catalog.text") + `
  JOIN pg_catalog.pg_type r ON r.oid = p.prorettype AND r.typrelid <> 0
  JOIN pg_catalog.pg_class rc ON rc.oid = r.typrelid JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
UNION ALL SELECT n.nspname::pg_catalog.text, t.typname::pg_catalog.text, NULL, n.nspname::pg_catalog.text, t.typname::pg_catalog.text, NULL,
  pg_catalog.current_setting('transaction_isolation'), 'function', NULL, NULL, NULL, NULL
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype
  WHERE t.typtype = 'd' AND (b.typrelid <> 0 OR b.typtype = 'd')`
}

// addNamedFunction takes a function's row of namedLikeQuery.
func (b *catalogBuilder) addNamedFunction(v [][]byte) {
	fn := sqlrewrite.TableName{Schema: string(v[0]), Name: string(v[1]), Function: true}
	if string(v[7]) == "returns" {
		if b.cat.funcReturns == nil {
			b.cat.funcReturns = map[string][]funcReturn{}
		}
		b.cat.funcReturns[fn.Name] = append(b.cat.funcReturns[fn.Name], funcReturn{fn: fn, row: sqlrewrite.TableName{Schema: string(v[8]), Name: string(v[9])}})
		return
	}
	if b.cat.namedFuncs == nil {
		b.cat.namedFuncs = map[string][]sqlrewrite.TableName{}
	}
	col := string(v[2]) // "" for any name
	b.cat.namedFuncs[col] = append(b.cat.namedFuncs[col], fn)
}

// funcReturn is a function that returns the rows of relation (or
// composite type) row.
type funcReturn struct {
	fn, row sqlrewrite.TableName
}

// functionMayHave says whether function t, as a statement calls it (any
// schema when unqualified: which one PostgreSQL picks depends on the
// arguments' types too), may have a result column called col: it is
// listed for col or for any name, or returns the row of a relation
// listed with col.
func (c *catalog) functionMayHave(t sqlrewrite.TableName, col string) bool {
	same := func(f sqlrewrite.TableName) bool {
		return f.Name == t.Name && (t.Schema == "" || t.Schema == f.Schema || tempSchema(t.Schema, f.Schema))
	}
	if slices.ContainsFunc(c.namedFuncs[col], same) || slices.ContainsFunc(c.namedFuncs[""], same) {
		return true
	}
	return slices.ContainsFunc(c.funcReturns[t.Name], func(r funcReturn) bool {
		return same(r.fn) && slices.Contains(c.namedLike[col], r.row)
	})
}
