package pgvalue

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"math"
	"math/big"
	"strconv"

	"github.com/phiguard/phiguard/policy"
)

// Assign converts a value of type from, as a client bound it (format 0
// or 1), to the canonical text of type to by PostgreSQL's assignment
// casts between the number types (smallint, integer, bigint, real,
// double precision, numeric): a client may declare any of them for a
// parameter bound to a column of another (psycopg 3 binds a Decimal as
// numeric, pgjdbc a double as float8). ok is false for any other pair:
// the caller reads the value as the column's type.
func (c Converter) Assign(from, to policy.LogicalType, format int16, v []byte) (canon []byte, ok bool, err error) {
	if !isNumber(from.OID) || !isNumber(to.OID) || from.OID == to.OID {
		return nil, false, nil
	}
	from.Modifier = -1 // a parameter's type has none
	src, err := c.decode(from, format, v)
	if err != nil {
		return nil, true, err
	}
	d := decoder{t: to, f: FormatText}
	var text []byte
	switch s := src.(type) {
	case floatValue:
		text, err = d.fromFloat(s)
	case numericValue:
		text, err = d.fromNumeric(s)
	default: // an integer: its text reads as any number type
		text = src.text(nil)
	}
	if err != nil {
		return nil, true, err
	}
	canon, err = c.Canonical(to, FormatText, text)
	return canon, true, err
}

func isNumber(oid uint32) bool {
	switch oid {
	case policy.OIDInt2, policy.OIDInt4, policy.OIDInt8, policy.OIDFloat4, policy.OIDFloat8, policy.OIDNumeric:
		return true
	}
	return false
}

// intRange is the 22003 error of an integer type.
func (d decoder) intRange() *Error {
	name := map[uint32]string{policy.OIDInt2: "smallint", policy.OIDInt4: "integer", policy.OIDInt8: "bigint"}[d.t.OID]
	return d.coded(pgerr.NumericValueOutOfRange, name+" out of range", "%s out of range", name)
}

func isInt(oid uint32) bool {
	return oid == policy.OIDInt2 || oid == policy.OIDInt4 || oid == policy.OIDInt8
}

// fromFloat is float8_numeric and float4_numeric (%.15g or %.6g),
// float84 (rounded to nearest, 22003 on overflow or underflow to zero),
// float4_float8 (exact), and float8_int4 and its kin (rint, then the
// range; NaN and infinities are out of range).
func (d decoder) fromFloat(s floatValue) ([]byte, error) {
	f := s.v
	switch {
	case d.t.OID == policy.OIDNumeric:
		if sp, ok := s.special(); ok {
			return []byte(sp), nil
		}
		p := 15
		if s.bits == 32 {
			p = 6
		}
		return strconv.AppendFloat(nil, f, 'g', p, 64), nil
	case d.t.OID == policy.OIDFloat4:
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) && !math.IsInf(f, 0) {
			return nil, d.coded(pgerr.NumericValueOutOfRange, "value out of range: overflow", "value out of range: overflow")
		}
		if f32 == 0 && f != 0 {
			return nil, d.coded(pgerr.NumericValueOutOfRange, "value out of range: underflow", "value out of range: underflow")
		}
		return floatValue{float64(f32), 32}.text(nil), nil
	case d.t.OID == policy.OIDFloat8:
		return floatValue{f, 64}.text(nil), nil
	}
	_, lo, hi := d.intSize()
	r := math.RoundToEven(f)
	// The float limits as PostgreSQL's FLOAT8_FITS_IN_INT* test them.
	if math.IsNaN(r) || r < float64(lo) || r >= -float64(lo) || int64(r) > hi {
		return nil, d.intRange()
	}
	return strconv.AppendInt(nil, int64(r), 10), nil
}

// fromNumeric is numeric_float8 and numeric_float4 (the text read as a
// float), and numeric_int4 and its kin (rounded half away from zero,
// then the range; NaN and infinities are refused as PostgreSQL refuses
// them).
func (d decoder) fromNumeric(s numericValue) ([]byte, error) {
	if !isInt(d.t.OID) {
		return s.text(nil), nil
	}
	switch s.special {
	case numericNaN:
		return nil, d.coded(pgerr.FeatureNotSupported, "cannot convert NaN to "+d.intName(), "cannot convert NaN to %s", d.intName())
	case numericPInf, numericNInf:
		return nil, d.coded(pgerr.FeatureNotSupported, "cannot convert infinity to "+d.intName(), "cannot convert infinity to %s", d.intName())
	}
	q := new(big.Int).Set(s.mag)
	if s.dscale > 0 {
		div := pow10(s.dscale)
		var r big.Int
		q.QuoRem(q, div, &r)
		if r.Lsh(&r, 1).Cmp(div) >= 0 {
			q.Add(q, big.NewInt(1))
		}
	}
	if s.neg {
		q.Neg(q)
	}
	_, lo, hi := d.intSize()
	if !q.IsInt64() || q.Int64() < lo || q.Int64() > hi {
		return nil, d.intRange()
	}
	return []byte(q.String()), nil
}

func (d decoder) intName() string {
	return map[uint32]string{policy.OIDInt2: "smallint", policy.OIDInt4: "integer", policy.OIDInt8: "bigint"}[d.t.OID]
}
