package sqlrewrite

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// A CHECK constraint, a unique or exclusion index, a FOREIGN KEY or a row
// security policy over an encrypted column is evaluated by PostgreSQL on
// the ciphertext; the session's catalog lists those of the protected
// tables, and the statements they would judge are refused
// (guard/catalog_judged.go). One another session adds after that read
// is not listed until the next read, and a write in between was judged
// on the ciphertext: CHECK (length(s) > 10) took the row of 'abc', a
// UNIQUE index on a randomized column took a second 'secret'
// (TestRedTeam32bJudgeAddedAfterRead).
//
// GuardJudges makes a write check, as it runs, that its table has the
// judges the catalog read: the value written into the table's first
// encrypted column (of an INSERT ... VALUES' first row that has one, or
// an UPDATE's SET) is wrapped in a CASE that hands it on while
// JudgesMark of the table is the catalog's, and raises otherwise. The
// mark is a fingerprint of the table's pg_depend rows of constraints,
// policies and unique or exclusion indexes (each a new OID when made)
// and of its relrowsecurity: it changes when another session adds (or
// drops) one, whatever it reads, and the catalog read again decides.
// The statement holds its table's lock from its analysis to its end
// (the DDL that adds any of them takes a lock that conflicts with it),
// and in READ COMMITTED its snapshot is taken after that analysis: DDL
// committed before the lock was granted is seen by the check, later DDL
// waits for the statement. The raise's message holds judgesGuardMarker
// and the table's name; the proxy answers JudgesChangedRefusal (40001:
// nothing was written, run it again) and reads its catalog again, whose
// judges then refuse the statement (0A000) or let it run.
//
// Not covered: shapes with no such value to wrap (a write leaving the
// encrypted columns out, INSERT ... SELECT, MERGE, UPDATE ... SET (a, b)
// = (...), several statements in one Query); COPY FROM, whose WHERE
// takes no subquery, has the catalog read before it instead
// (guard/catalog_fresh.go); a REPEATABLE READ or SERIALIZABLE
// transaction's snapshot, older than the DDL; and reads, which a policy
// added since filters on the ciphertext until the next read.

// judgesGuardMarker is in the error the judges guard raises.
const judgesGuardMarker = "phiguard_judges_changed:"

// JudgesChangedRefusal recognises the judges guard's error and returns the
// refusal to send the client instead, naming the table.
func JudgesChangedRefusal(message string) (*Refusal, bool) {
	table, ok := markedTable(message, judgesGuardMarker)
	if !ok {
		return nil, false
	}
	return &Refusal{Code: pgerr.SerializationFailure, Table: table, Construct: "a write to a table with encrypted columns",
		Message: "a constraint, unique index or row security policy was added to (or dropped from) table " + table +
			" by another session since phiguard read the catalog; PostgreSQL may judge it on the ciphertext, so nothing was written; phiguard reads the catalog again: run the statement again"}, true
}

// JudgesMark is a numeric SQL expression fingerprinting the judges of the
// relation whose OID is the SQL expression rel: the sum of the OIDs of the
// constraints, policies, and unique or exclusion indexes with a pg_depend
// row on it, doubled, plus 1 when its row security is enabled; NULL when
// it no longer exists. own is an SQL condition on c, a pg_constraint row,
// true for phiguard's own CHECKs (the cells-only and terms-present ones,
// which judge nothing on the ciphertext and which the backfill adds while
// sessions run: they leave the mark as it was); "" for none. The catalog
// read computes the mark (as text) with the judges it lists, the guard
// compares it with that.
func JudgesMark(rel, own string) string {
	eq := " OPERATOR(pg_catalog.=) "
	keep := "(d.classid OPERATOR(pg_catalog.<>) 1259::pg_catalog.oid OR i.indisunique OR i.indisexclusion)"
	if own != "" {
		keep += " AND NOT COALESCE(" + own + ", false)"
	}
	// One query, joins but no nested subqueries: a write through the
	// simple protocol plans it each time (docs/catalog.md, item 6).
	return "(SELECT COALESCE(pg_catalog.sum(CASE WHEN " + keep + " THEN d.objid::pg_catalog.int8 END), 0::pg_catalog.numeric) OPERATOR(pg_catalog.*) 2::pg_catalog.numeric" +
		" OPERATOR(pg_catalog.+) pg_catalog.max(CASE WHEN r.relrowsecurity THEN 1::pg_catalog.numeric ELSE 0::pg_catalog.numeric END)" +
		" FROM pg_catalog.pg_class r LEFT JOIN pg_catalog.pg_depend d ON d.refclassid" + eq + "1259::pg_catalog.oid AND d.refobjid" + eq + "r.oid AND d.classid" + eq +
		"ANY ('{2606,3256,1259}'::pg_catalog.oid[]) LEFT JOIN pg_catalog.pg_constraint c ON c.oid" + eq + "d.objid AND d.classid" + eq + "2606::pg_catalog.oid AND c.contype" + eq +
		"'c'::pg_catalog.\"char\" LEFT JOIN pg_catalog.pg_index i ON i.indexrelid" + eq + "d.objid AND d.classid" + eq + "1259::pg_catalog.oid WHERE r.oid" + eq + rel + ")"
}

// OwnCheck is one of phiguard's own CHECKs a table may have: its name,
// its column's attribute number, and a text its definition holds.
type OwnCheck struct {
	Name   string
	Attnum int16
	Needle string
}

// OwnChecks is JudgesMark's own condition for checks.
func OwnChecks(checks []OwnCheck) string {
	var parts []string
	for _, o := range checks {
		parts = append(parts, "c.conname OPERATOR(pg_catalog.=) "+sqlString(o.Name)+"::pg_catalog.name AND c.conkey OPERATOR(pg_catalog.=) '{"+
			strconv.Itoa(int(o.Attnum))+"}'::pg_catalog.int2[] AND pg_catalog.strpos(pg_catalog.pg_get_constraintdef(c.oid), "+sqlString(o.Needle)+
			") OPERATOR(pg_catalog.>) 0")
	}
	return strings.Join(parts, " OR ")
}

// JudgesCheck is what the catalog read of a table: its OID, JudgesMark,
// and phiguard's own CHECKs it may have.
type JudgesCheck struct {
	Table policy.TableName
	OID   uint32
	Mark  string
	Own   []OwnCheck
}

// judgesGuard wraps value (text) in the check.
func judgesGuard(value string, c JudgesCheck) string {
	return "CASE WHEN (" + JudgesMark(strconv.FormatUint(uint64(c.OID), 10)+"::pg_catalog.oid", OwnChecks(c.Own)) + ") OPERATOR(pg_catalog.=) " + sqlString(c.Mark) +
		"::pg_catalog.numeric THEN (" + value + ") ELSE pg_catalog.current_setting(" + sqlString(judgesGuardMarker+c.Table.String()) + ") END"
}

// GuardJudges adds c's check to sql, an INSERT ... VALUES or UPDATE
// writing one of columns (the encrypted columns of c's table); sql comes
// back as it is when it has no value of theirs to wrap.
func GuardJudges(sql string, columns []string, c JudgesCheck) string {
	if len(columns) == 0 || c.OID == 0 || c.Mark == "" {
		return sql
	}
	listed := func(name string) bool {
		for _, n := range columns {
			if n == name {
				return true
			}
		}
		return false
	}
	out, _ := wrapWrittenValue(sql, listed, func(v string) string { return judgesGuard(v, c) })
	return out
}

// wrapWrittenValue wraps, with wrap, the first value sql (an INSERT ...
// VALUES or an UPDATE) writes into a listed column that is not DEFAULT
// (which no CASE can hold): of the first row of VALUES that has one, or
// of the SET. false, and sql as it is, when it has none.
func wrapWrittenValue(sql string, listed func(string) bool, wrap func(string) string) (string, bool) {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.GetStmts()) != 1 {
		return sql, false
	}
	stmt := tree.GetStmts()[0].GetStmt()
	if ins := stmt.GetInsertStmt(); ins != nil && len(ins.GetSelectStmt().GetSelectStmt().GetValuesLists()) > 0 {
		_, rows, ok := insertSpans(sql, int(ins.GetRelation().GetLocation()))
		if !ok || len(rows) == 0 {
			return sql, false
		}
		for _, row := range rows {
			for i, c := range ins.GetCols() {
				if !listed(c.GetResTarget().GetName()) || i >= len(row) {
					continue
				}
				sp := row[i]
				if v := sql[sp[0]:sp[1]]; !strings.EqualFold(v, "DEFAULT") {
					return sql[:sp[0]] + wrap(v) + sql[sp[1]:], true
				}
			}
		}
		return sql, false
	}
	if up := stmt.GetUpdateStmt(); up != nil {
		for _, t := range up.GetTargetList() {
			rt := t.GetResTarget()
			if rt == nil || !listed(rt.GetName()) || rt.GetVal().GetMultiAssignRef() != nil || len(rt.GetIndirection()) > 0 {
				continue
			}
			if sp, ok := setValueSpan(sql, int(rt.GetLocation())); ok && !strings.EqualFold(sql[sp[0]:sp[1]], "DEFAULT") {
				return sql[:sp[0]] + wrap(sql[sp[0]:sp[1]]) + sql[sp[1]:], true
			}
		}
	}
	return sql, false
}
