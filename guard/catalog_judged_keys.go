package guard

import (
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/policy"
)

// The judges of writes other than CHECKs (judgesKeysQuery's rows): a
// unique index over a randomized column (its cells of equal values
// differ, so it takes a second 'secret' the plaintext database refuses,
// 23505), or over an expression or with a predicate reading an
// encrypted column; an exclusion index over an encrypted column; a
// FOREIGN KEY pairing an encrypted column with one not encrypted under
// the same deterministic key (the database compares a cell with another
// value: 23503 where the plaintext database takes the row, and a DELETE
// of the referenced row taken where it refuses it). What phiguard itself
// lets through (sqlrewrite/planner_ddl_expr.go) is not kept: a unique
// index on a deterministic column itself, a FOREIGN KEY between columns
// of one deterministic key (TestRedTeam33bConstraintsByAnotherSession).

// addJudgesMark keeps the table's sqlrewrite.JudgesMark ('g' rows), for
// the judges guard of its writes (judges_guard.go).
func (b *catalogBuilder) addJudgesMark(oid uint32, mark string) {
	if b.cat.judgeMarks == nil {
		b.cat.judgeMarks = map[uint32]string{}
	}
	b.cat.judgeMarks[oid] = mark
}

// addKeyJudge takes a 'u', 'x' or 'f' row of judgesKeysQuery.
func (b *catalogBuilder) addKeyJudge(oid uint32, v [][]byte) {
	j := judge{table: policy.TableName{Schema: string(v[1]), Name: string(v[2])}, check: true, name: string(v[4])}
	switch string(v[3]) {
	case "u", "x":
		j.construct = "UNIQUE index"
		if string(v[3]) == "x" {
			j.construct = "EXCLUDE constraint"
		}
		for _, att := range strings.Fields(string(v[5])) {
			n, err := strconv.ParseInt(att, 10, 16)
			if err != nil || n == 0 {
				continue
			}
			if col, own := b.cat.encryptedColumn(oid, int16(n)); col != "" && (v[3][0] == 'x' || own == nil || own.Mode != policy.ModeDeterministic) {
				j.column = col
			}
		}
		for _, n := range attnumList(v[6]) {
			if col, _ := b.cat.encryptedColumn(oid, n); col != "" && j.column == "" {
				j.column, j.construct = col, j.construct+" (over an expression, or with a predicate)"
			}
		}
	case "f":
		j.construct, j.deletes = "FOREIGN KEY", true
		other, _ := strconv.ParseUint(string(v[8]), 10, 32)
		keys, refs := attnumList(v[5]), attnumList(v[6])
		for i, n := range keys {
			src, own := b.cat.encryptedColumn(oid, n)
			dst, ref := "", (*policy.ProtectedColumn)(nil)
			if i < len(refs) {
				dst, ref = b.cat.encryptedColumn(uint32(other), refs[i])
			}
			if src == "" && dst == "" || own != nil && ref != nil && own.Mode == policy.ModeDeterministic &&
				ref.Mode == policy.ModeDeterministic && own.Key == ref.Key {
				continue
			}
			if j.column = src; src == "" {
				j.column = dst
			}
			break
		}
	}
	if j.column != "" {
		b.keepJudge(j)
	}
}

// attnumList reads an int2[] as text ("{1,2}"; NULL: none).
func attnumList(v []byte) []int16 {
	var out []int16
	for _, s := range strings.Split(strings.Trim(string(v), "{}"), ",") {
		if n, err := strconv.ParseInt(s, 10, 16); err == nil {
			out = append(out, int16(n))
		}
	}
	return out
}
