package proxy

import (
	"bytes"
	"strconv"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Proxy-side WHERE (docs/search.md, sqlrewrite/planner_filter.go): the
// conjuncts of a statement's WHERE that compare an encrypted column with
// constants are evaluated here, on each held row of a sortRun, before it
// is held (so a row the WHERE drops costs no memory) and so before the
// sort, OFFSET and LIMIT. Each constant arrives once per row as a hidden
// column "oid:text", the type PostgreSQL gave it in the comparison and
// its value; it is read at the first row.

// filterArg is one constant of a filter, as a key of the column's type
// (or of numeric, for an integer column compared with a numeric).
type filterArg struct {
	null    bool
	key     pgorder.Key
	pattern []byte // a LIKE's, with \ as its escape
}

// filterArgs are a filter's constants; numeric says the column's values
// are compared as numeric.
type filterArgs struct {
	args    [2]filterArg
	numeric bool
}

var numericType = policy.LogicalType{Name: "numeric", OID: policy.OIDNumeric, Size: -1, Modifier: -1}

// readFilterArgs reads every filter's constants from the first row.
func (s *session) readFilterArgs(run *sortRun, hidden [][]byte) *pgerr.Error {
	run.filterArgs = make([]filterArgs, len(run.plan.Filters))
	for i, f := range run.plan.Filters {
		fa := &run.filterArgs[i]
		for j, at := range f.Args {
			if at < 0 {
				continue
			}
			numeric, pe := s.readFilterArg(f, hidden[at], &fa.args[j])
			if pe != nil {
				return pe
			}
			fa.numeric = fa.numeric || numeric
		}
		if fa.numeric { // both constants of a BETWEEN are compared as numeric
			for j := range fa.args {
				if k, err := pgorder.IntAsNumeric(fa.args[j].key); err == nil && !fa.args[j].null {
					fa.args[j].key = k // an integer one
				}
			}
		}
	}
	return nil
}

// readFilterArg reads one "oid:text" constant; numeric reports a numeric
// constant compared with an integer column.
func (s *session) readFilterArg(f sqlrewrite.Filter, raw []byte, out *filterArg) (bool, *pgerr.Error) {
	if raw == nil {
		*out = filterArg{null: true}
		return false, nil
	}
	col := f.Column
	raw = bytes.Clone(raw) // the message buffer is reused; a text key keeps these bytes
	oidText, text, ok := bytes.Cut(raw, []byte(":"))
	oid, err := strconv.ParseUint(string(oidText), 10, 32)
	if !ok || (err != nil && !(f.Op.Like() && bytes.HasPrefix(oidText, []byte("encoding ")))) {
		return false, pgerr.Newf(pgerr.InternalError, "phiguard could not read the value compared with %s it asked for", col.QualifiedName())
	}
	if f.Op.Like() {
		if enc, ok := bytes.CutPrefix(oidText, []byte("encoding ")); ok {
			return false, pgerr.Newf(pgerr.FeatureNotSupported,
				"LIKE on encrypted column %s in a database encoded %s: phiguard matches LIKE as PostgreSQL does in a UTF8 database only", col.QualifiedName(), enc)
		}
		if uint32(oid) != policy.OIDText {
			return false, pgerr.Newf(pgerr.InternalError, "phiguard could not read the pattern compared with %s", col.QualifiedName())
		}
		*out = filterArg{pattern: text}
		return false, nil
	}
	t := col.Type
	t.Modifier = -1 // a constant is compared unrounded (numeric(6,2) > 2.555)
	numeric := false
	switch u := uint32(oid); {
	case u == t.OID && !textFamily(u):
		conv, err := s.converterFor(col)
		if err != nil {
			return false, pgerr.New(pgerr.FeatureNotSupported, err.Error())
		}
		if text, err = conv.Canonical(t, 0, text); err != nil {
			return false, pgerr.Newf(pgerr.InternalError, "phiguard could not read the value compared with %s as %s", col.QualifiedName(), t.Name)
		}
	case textFamily(u) && textFamily(t.OID) && (u == t.OID || t.OID != policy.OIDBpchar), integer(u) && integer(t.OID):
	case u == policy.OIDNumeric && integer(t.OID):
		t, numeric = numericType, true
	default:
		return false, pgerr.Newf(pgerr.FeatureNotSupported,
			"WHERE compares encrypted column %s (%s) with a value of another type (OID %d), which phiguard does not compare as PostgreSQL does: write the constant as the column's type", col.QualifiedName(), col.Type.Name, u)
	}
	k, err := pgorder.Parse(t, text)
	if err != nil {
		return false, pgerr.Newf(pgerr.InternalError, "phiguard could not read the value compared with %s as %s", col.QualifiedName(), t.Name)
	}
	*out = filterArg{key: k}
	return numeric, nil
}

func textFamily(oid uint32) bool {
	return oid == policy.OIDText || oid == policy.OIDVarchar || oid == policy.OIDBpchar
}

func integer(oid uint32) bool {
	return oid == policy.OIDInt2 || oid == policy.OIDInt4 || oid == policy.OIDInt8
}

// keepRow evaluates the filters on a row's cells; visible is the count
// of the client's columns, after which the hidden ones are.
func (s *session) keepRow(run *sortRun, fields []*resultField, cells [][]byte, visible int) (bool, *pgerr.Error) {
	for i, f := range run.plan.Filters {
		at := visible + f.Value
		var x sortValue
		if cells[at] == nil {
			x.null = true
		} else {
			field := fields[at]
			if field == nil || field.col == nil || field.col.Type != f.Column.Type || field.rule != nil {
				return false, pgerr.Newf(pgerr.FeatureNotSupported,
					"phiguard cannot tell that the WHERE operand %s arrives as that encrypted column, so it cannot compare it", f.Column.QualifiedName())
			}
			var pe *pgerr.Error
			if x, _, pe = s.encryptedKey(field, cells[at], false); pe != nil {
				return false, pe
			}
		}
		fa := run.filterArgs[i]
		if fa.numeric && !x.null {
			k, err := pgorder.IntAsNumeric(x.key)
			if err != nil {
				return false, pgerr.Newf(pgerr.InternalError, "phiguard could not compare %s as numeric", f.Column.QualifiedName())
			}
			x.key = k
		}
		if f.Op.Like() {
			if x.null || fa.args[0].null {
				return false, nil
			}
			match, pe := likeMatch(x.key.Text(), fa.args[0].pattern)
			if pe != nil {
				return false, pe
			}
			if match != (f.Op == sqlrewrite.FilterLike) {
				return false, nil
			}
			continue
		}
		if !filterHolds(f.Op, x, fa.args) {
			return false, nil
		}
	}
	return true, nil
}

// tri is SQL's three-valued truth.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triNull
)

func and3(a, b tri) tri {
	switch {
	case a == triFalse || b == triFalse:
		return triFalse
	case a == triNull || b == triNull:
		return triNull
	}
	return triTrue
}

func or3(a, b tri) tri {
	switch {
	case a == triTrue || b == triTrue:
		return triTrue
	case a == triNull || b == triNull:
		return triNull
	}
	return triFalse
}

// cmp3 is x op a under strict NULL semantics; holds says whether the
// comparison's result (-1, 0, 1) satisfies op.
func cmp3(x sortValue, a filterArg, holds func(int) bool) tri {
	if x.null || a.null {
		return triNull
	}
	if holds(pgorder.Compare(x.key, a.key)) {
		return triTrue
	}
	return triFalse
}

var (
	lt = func(c int) bool { return c < 0 }
	le = func(c int) bool { return c <= 0 }
	gt = func(c int) bool { return c > 0 }
	ge = func(c int) bool { return c >= 0 }
)

// filterHolds says whether a row passes one filter: the comparison is
// true (NULL drops the row, as in a WHERE). BETWEEN is PostgreSQL's
// expansion: a <= x AND x <= b, and its negation x < a OR x > b;
// SYMMETRIC also tries the bounds swapped.
func filterHolds(op sqlrewrite.FilterOp, x sortValue, args [2]filterArg) bool {
	a, b := args[0], args[1]
	var r tri
	switch op {
	case sqlrewrite.FilterEq:
		r = cmp3(x, a, func(c int) bool { return c == 0 })
	case sqlrewrite.FilterNe:
		r = cmp3(x, a, func(c int) bool { return c != 0 })
	case sqlrewrite.FilterLt:
		r = cmp3(x, a, lt)
	case sqlrewrite.FilterLe:
		r = cmp3(x, a, le)
	case sqlrewrite.FilterGt:
		r = cmp3(x, a, gt)
	case sqlrewrite.FilterGe:
		r = cmp3(x, a, ge)
	case sqlrewrite.FilterBetween:
		r = and3(cmp3(x, a, ge), cmp3(x, b, le))
	case sqlrewrite.FilterNotBetween:
		r = or3(cmp3(x, a, lt), cmp3(x, b, gt))
	case sqlrewrite.FilterBetweenSym:
		r = or3(and3(cmp3(x, a, ge), cmp3(x, b, le)), and3(cmp3(x, b, ge), cmp3(x, a, le)))
	case sqlrewrite.FilterNotBetweenSym:
		r = and3(or3(cmp3(x, a, lt), cmp3(x, b, gt)), or3(cmp3(x, b, lt), cmp3(x, a, gt)))
	case sqlrewrite.FilterDistinct, sqlrewrite.FilterNotDistinct:
		same := x.null == a.null && (x.null || pgorder.Compare(x.key, a.key) == 0)
		return same == (op == sqlrewrite.FilterNotDistinct)
	}
	return r == triTrue
}

// checkFilterCollations refuses a text filter whose column does not
// compare by bytes: only libc's C and POSIX do.
func (run *sortRun) checkFilterCollations(hidden [][]byte) *pgerr.Error {
	for _, f := range run.plan.Filters {
		if f.Collation >= 0 && !bytewise(hidden[f.Collation]) {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"WHERE on encrypted text column %s under collation %s: phiguard compares only C-collated text", f.Column.QualifiedName(), localeOf(hidden[f.Collation]))
		}
	}
	return nil
}
