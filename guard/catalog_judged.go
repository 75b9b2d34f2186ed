package guard

import (
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A CHECK constraint or a row security policy over an encrypted column
// (CHECK (length(ssn) > 10), CREATE POLICY ... USING (length(ssn) < 10))
// is evaluated by PostgreSQL on the ciphertext, like a generated column
// computed from one (catalog_computed.go): the CHECK took the cell of
// 'abc' (65 characters) where the plaintext database refuses the row
// (23514), and the policy let no row through where the plaintext database
// lets the row of 'secret' through (TestRedTeam32bCheckByAnotherSession,
// TestRedTeam32bRowSecurityByAnotherSession). phiguard refuses to add
// one through itself (sqlrewrite/planner_ddl_expr.go); one another
// session added is listed by the catalog read (judgesQuery), and
// judgedRefusal refuses, before they run, the statements it would judge:
// a write (INSERT, UPDATE, MERGE, COPY FROM) naming a table with such a
// CHECK, and any statement reading or writing a table, protected or not,
// whose row security is enabled and one of whose policies reads an
// encrypted column (a policy of a plain table may read one in a
// subquery). The read lists unique and exclusion indexes and FOREIGN
// KEYs too (catalog_judged_keys.go). One added after the session's last
// read is not listed until the next read: a write carries the judges
// guard (judges_guard.go, sqlrewrite/judges_guard.go), which fails with
// 40001 and has the catalog read again when the table's constraints,
// unique indexes or policies are not those of the read ('g' rows,
// sqlrewrite.JudgesMark); a read does not (docs/catalog.md, "What is
// left").

// judge is a CHECK constraint (check) or a row security policy (rowPolicy)
// over an encrypted column (column, qualified; "" for a whole-row
// reference) of table.
type judge struct {
	table     policy.TableName
	check     bool
	name      string
	column    string
	rowPolicy bool
	// construct names a judge of writes other than a CHECK (a unique or
	// exclusion index, a FOREIGN KEY: catalog_judged_keys.go); deletes
	// is set when it judges DELETEs too (a FOREIGN KEY).
	construct string
	deletes   bool
}

// judgesQuery lists the candidates, in rows of nine fields (which no
// other part of the catalog's answer has): the table's OID, schema and
// name, 'c', 'p', 'u', 'x', 'f' or 'g', the constraint's, policy's or
// index's name (for 'g', the table's sqlrewrite.JudgesMark), and
//   - for each CHECK constraint of a protected table: its conkey (the
//     columns its expression reads, 0 for a whole-row reference) and, for
//     one named phiguard_..., its definition;
//   - for each policy of a table whose row security is enabled (any
//     table: a policy of a plain table may read an encrypted column in a
//     subquery): the columns it reads, as its pg_depend rows say, each as
//     oid.attnum, and whether its expressions hold a whole-row reference
//     (a Var of attribute 0, which leaves no pg_depend row);
//   - the keys of judgesKeysQuery ('u', 'x', 'f'), and each protected
//     table's mark ('g'), read in the same snapshot as its judges.
//
// addJudge keeps those over an encrypted column (or a generated column
// computed from one), which the catalog's rows before it list. Matching
// in SQL, as the generated columns' pg_depend walk does, took 2.5 ms to
// plan where this query takes 0.35 (docs/catalog.md, item 6).
func judgesQuery(pol *policy.Policy) string {
	var keys []string
	for _, t := range pol.Tables() {
		var names, cols, needles []string
		for _, col := range t.Columns {
			names = append(names, quoteLiteral(cellcheck.Name(col)), quoteLiteral(search.CheckName(col)))
			cols = append(cols, quoteLiteral(col.Name), quoteLiteral(col.Name))
			needles = append(needles, quoteLiteral("'"+cellcheck.Pattern+"'"), quoteLiteral("'~phs~'"))
		}
		keys = append(keys, "("+quoteLiteral(t.Name.Schema)+","+quoteLiteral(t.Name.Name)+",ARRAY["+strings.Join(names, ",")+"]::pg_catalog.text[],ARRAY["+
			strings.Join(cols, ",")+"]::pg_catalog.text[],ARRAY["+strings.Join(needles, ",")+"]::pg_catalog.text[])")
	}
	if len(keys) == 0 {
		keys = append(keys, "(NULL,NULL,NULL::pg_catalog.text[],NULL::pg_catalog.text[],NULL::pg_catalog.text[])")
	}
	return `WITH prot AS (SELECT c.oid, n.nspname, c.relname, k.names, k.cols, k.needles FROM (VALUES ` + strings.Join(keys, ",") + `) k(s, t, names, cols, needles)
JOIN pg_catalog.pg_namespace n ON n.nspname = k.s::pg_catalog.name
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = k.t::pg_catalog.name)
SELECT c.oid, c.nspname, c.relname, 'c', con.conname, con.conkey::pg_catalog.text,
  CASE WHEN con.conname LIKE 'phiguard\_%' THEN pg_catalog.pg_get_constraintdef(con.oid) END, NULL, NULL
FROM prot c JOIN pg_catalog.pg_constraint con ON con.conrelid = c.oid AND con.contype = 'c'
UNION ALL
SELECT c.oid, n.nspname, c.relname, 'p', p.polname,
  (SELECT pg_catalog.array_agg(d.refobjid::pg_catalog.text || '.' || d.refobjsubid::pg_catalog.text)::pg_catalog.text FROM pg_catalog.pg_depend d
    WHERE d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND d.objid = p.oid
      AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjsubid > 0),
  NULL, pg_catalog.strpos(p.polqual::pg_catalog.text, ':varattno 0 ') > 0 OR pg_catalog.strpos(p.polwithcheck::pg_catalog.text, ':varattno 0 ') > 0, NULL
FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relrowsecurity
UNION ALL
` + judgesKeysQuery + `
UNION ALL
SELECT p.oid, p.nspname, p.relname, 'g', (` + sqlrewrite.JudgesMark("p.oid", ownInCatalog) + `)::pg_catalog.text, NULL, NULL, NULL, NULL FROM prot p`
}

// ownInCatalog is JudgesMark's own condition in judgesQuery, on the
// names, columns and needles of prot p (sqlrewrite.OwnChecks in the
// guard): phiguard's cells-only and terms-present CHECKs, as ownCheck
// tells them.
const ownInCatalog = `EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest(p.names), pg_catalog.unnest(p.cols), pg_catalog.unnest(p.needles)) u(n, col, needle) WHERE c.conname = u.n::pg_catalog.name
  AND c.conkey = ARRAY[(SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.conrelid AND a.attname = u.col::pg_catalog.name)]
  AND pg_catalog.strpos(pg_catalog.pg_get_constraintdef(c.oid), u.needle) > 0)`

// judgesKeysQuery lists, in judgesQuery's rows, the unique and exclusion
// indexes of each protected table ('u', 'x': the index's name, its
// indkey, and, when it has expressions or a predicate, the columns they
// read, as its pg_depend rows say) and each FOREIGN KEY from or to one,
// once for each of its two tables ('f': the table's columns, the other
// table's columns, NULL, and the other table's OID).
const judgesKeysQuery = `SELECT c.oid, c.nspname, c.relname, CASE WHEN i.indisunique THEN 'u' ELSE 'x' END, ic.relname, i.indkey::pg_catalog.text,
  CASE WHEN i.indexprs IS NOT NULL OR i.indpred IS NOT NULL THEN (SELECT pg_catalog.array_agg(d.refobjsubid)::pg_catalog.text FROM pg_catalog.pg_depend d
    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = i.indexrelid AND d.refobjid = c.oid AND d.refobjsubid > 0) END, NULL, NULL
FROM prot c JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND (i.indisunique OR i.indisexclusion)
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT c.oid, n.nspname, c.relname, 'f', con.conname, s.k::pg_catalog.text, s.ok::pg_catalog.text, NULL, s.orel::pg_catalog.text
FROM pg_catalog.pg_constraint con
CROSS JOIN LATERAL (VALUES (con.conrelid, con.conkey, con.confrelid, con.confkey), (con.confrelid, con.confkey, con.conrelid, con.conkey)) s(rel, k, orel, ok)
JOIN pg_catalog.pg_class c ON c.oid = s.rel JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f' AND (con.conrelid IN (SELECT oid FROM prot) OR con.confrelid IN (SELECT oid FROM prot))`

// addJudge takes a row of judgesQuery: a judge when it reads an
// encrypted column, but phiguard's own CHECKs (the cells-only one of
// backfill.md and the terms-present one of search-terms.md §2.4, named
// after their column, over it alone, the cells' pattern or the terms'
// '~phs~' in their definition), which hold whether the column holds
// cells (with terms) and so answer every write the plaintext database
// takes alike.
func (b *catalogBuilder) addJudge(v [][]byte) {
	oid, _ := strconv.ParseUint(string(v[0]), 10, 32)
	switch string(v[3]) {
	case "g":
		b.addJudgesMark(uint32(oid), string(v[4]))
		return
	case "u", "x", "f":
		b.addKeyJudge(uint32(oid), v)
		return
	}
	j := judge{table: policy.TableName{Schema: string(v[1]), Name: string(v[2])}, check: string(v[3]) == "c", name: string(v[4])}
	j.rowPolicy = !j.check
	found := false
	for _, ref := range strings.Split(strings.Trim(string(v[5]), "{}"), ",") {
		rel, att := uint64(oid), ref
		if r, a, ok := strings.Cut(ref, "."); ok {
			rel, _ = strconv.ParseUint(r, 10, 32)
			att = a
		}
		attnum, err := strconv.ParseInt(att, 10, 16)
		if err != nil {
			continue
		}
		if attnum == 0 && j.check && len(b.cat.byOID[uint32(oid)]) > 0 {
			j.column, found = "", true
			break
		}
		if col, own := b.cat.encryptedColumn(uint32(rel), int16(attnum)); col != "" {
			if j.check && ownCheck(own, j.name, string(v[6]), v[5]) {
				return
			}
			j.column, found = col, true
			break
		}
	}
	if !found && (j.check || string(v[7]) != "t" || len(b.cat.byOID[uint32(oid)]) == 0) {
		return
	}
	b.keepJudge(j)
}

func (b *catalogBuilder) keepJudge(j judge) {
	if b.cat.judges == nil {
		b.cat.judges = map[string][]judge{}
	}
	b.cat.judges[j.table.Name] = append(b.cat.judges[j.table.Name], j)
}

// encryptedColumn names (qualified) the encrypted column, or the
// generated column computed from one, at attnum of the relation of OID
// rel, or ""; own is the encrypted column's policy entry (nil for a
// generated one).
func (c *catalog) encryptedColumn(rel uint32, attnum int16) (string, *policy.ProtectedColumn) {
	for tn, cols := range c.tables {
		if c.oids[tn] != rel {
			continue
		}
		for _, cc := range cols {
			if cc.attnum == attnum && (cc.protected != nil || cc.computed) {
				return tn.String() + "." + policy.QuoteIdentifier(cc.name), cc.protected
			}
		}
	}
	return "", nil
}

// ownCheck: a CHECK named name over col alone (conkey) is phiguard's
// cells-only or terms-present CHECK of it.
func ownCheck(col *policy.ProtectedColumn, name, def string, conkey []byte) bool {
	if col == nil || strings.Contains(string(conkey), ",") {
		return false
	}
	return name == cellcheck.Name(col) && strings.Contains(def, "'"+cellcheck.Pattern+"'") ||
		name == search.CheckName(col) && strings.Contains(def, "'~phs~'")
}

// judgedRefusal refuses a statement a CHECK or row security policy the
// catalog lists would judge on the ciphertext: a write other than a
// DELETE naming a table with such a CHECK, a statement reading or
// writing a table with such a policy. An unqualified name counts in
// every schema, as search_path is not trusted; a name a WITH binds does
// not.
func (c *catalog) judgedRefusal(a *sqlrewrite.Analysis) *pgerr.Error {
	if c == nil || len(c.judges) == 0 || a == nil || a.Err != nil {
		return nil
	}
	for i := range a.Statements {
		st := &a.Statements[i]
		deletes := st.Writes && st.Kind == sqlrewrite.KindDelete
		writes, reads := st.Writes && !deletes, st.Writes || readsRows(st)
		for _, t := range st.Tables {
			if t.Schema == "" && bound(st.CTEs, t.Name) {
				continue
			}
			for _, j := range c.judges[t.Name] {
				if t.Schema != "" && t.Schema != j.table.Schema || j.check && !writes && !(deletes && j.deletes) || j.rowPolicy && !reads {
					continue
				}
				return judgedError(j)
			}
		}
	}
	return nil
}

func judgedError(j judge) *pgerr.Error {
	what := "the encrypted column " + j.column
	if j.column == "" {
		what = "a whole row of a table with encrypted columns"
	}
	if j.construct != "" {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"table %s has the %s %s over %s: PostgreSQL compares its cells, not its values, so phiguard cannot write to the table; drop it (phiguard allows a UNIQUE index or a FOREIGN KEY over a deterministic column itself, the FOREIGN KEY to a column under the same deterministic key)",
			j.table, j.construct, policy.QuoteIdentifier(j.name), what)
	}
	if j.check {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"table %s has the CHECK constraint %s over %s: PostgreSQL evaluates it on the ciphertext, so phiguard cannot write to the table; drop the constraint (phiguard checks values only through its policy)",
			j.table, policy.QuoteIdentifier(j.name), what)
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"table %s has the row security policy %s over %s: PostgreSQL evaluates it on the ciphertext, so phiguard cannot read or write the table; drop the policy, or write it over columns that are not encrypted",
		j.table, policy.QuoteIdentifier(j.name), what)
}
