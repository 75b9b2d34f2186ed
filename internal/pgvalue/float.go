package pgvalue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/phiguard/phiguard/internal/pgerr"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/phiguard/phiguard/policy"
)

// The NaNs PostgreSQL's input functions make (get_float8_nan and
// get_float4_nan on x86-64 and arm64: the quiet NaN without payload).
const (
	float8NaNBits = 0x7FF8000000000000
	float4NaNBits = 0x7FC00000
)

// floatValue is a real (bits 32) or a double precision (bits 64); a real
// is held exactly in a float64.
type floatValue struct {
	v    float64
	bits int
}

// text is float4out and float8out with extra_float_digits above 0 (the
// default 1): Ryu's shortest text that reads back as the same value,
// which is also the canonical text.
func (v floatValue) text(*time.Location) []byte {
	if s, ok := v.special(); ok {
		return []byte(s)
	}
	digits, exp := shortestDigits(v.v, v.bits)
	// Fixed notation for a decimal exponent from -4 up to (not
	// including) 15 for double precision and 6 for real, else d.ddde+XX.
	limit := 15
	if v.bits == 32 {
		limit = 6
	}
	var b []byte
	if math.Signbit(v.v) {
		b = append(b, '-')
	}
	switch {
	case exp < -4 || exp >= limit:
		b = append(b, digits[0])
		if len(digits) > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if exp < 0 {
			b = append(b, '-')
			exp = -exp
		} else {
			b = append(b, '+')
		}
		return appendPad(b, int64(exp), 2)
	case exp < 0:
		b = append(b, "0."...)
		b = append(b, strings.Repeat("0", -exp-1)...)
		return append(b, digits...)
	case len(digits) <= exp+1:
		b = append(b, digits...)
		return append(b, strings.Repeat("0", exp+1-len(digits))...)
	}
	b = append(b, digits[:exp+1]...)
	b = append(b, '.')
	return append(b, digits[exp+1:]...)
}

// shortestDigits is what PostgreSQL's Ryu (d2s.c, f2s.c) prints: the
// fewest significant digits, correctly rounded, whose value lies
// strictly inside the interval of decimals that read back as f; unlike
// Go's shortest, a value exactly halfway to a neighbour is never taken
// (PostgreSQL builds Ryu without accepting the bounds). It returns the
// digits and the decimal exponent of the first one.
func shortestDigits(f float64, bits int) (string, int) {
	f = math.Abs(f)
	if f == 0 {
		return "0", 0
	}
	e := strconv.FormatFloat(f, 'e', -1, bits)
	mant, _, _ := strings.Cut(e, "e")
	n := len(mant) - strings.Count(mant, ".")
	exact := new(big.Rat).SetFloat64(f)
	var lo, hi *big.Rat
	if bits == 32 {
		f32 := float32(f)
		lo = mid(exact, float64(math.Nextafter32(f32, 0)))
		hi = mid(exact, float64(math.Nextafter32(f32, float32(math.Inf(1)))))
	} else {
		lo = mid(exact, math.Nextafter(f, 0))
		hi = mid(exact, math.Nextafter(f, math.Inf(1)))
	}
	for ; n <= 17; n++ {
		e = strconv.FormatFloat(f, 'e', n-1, bits)
		c, ok := new(big.Rat).SetString(e)
		if !ok || hi == nil || c.Cmp(hi) < 0 && (lo == nil || c.Cmp(lo) > 0) {
			break
		}
	}
	mant, ex, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(ex)
	digits := strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
	if digits == "" {
		digits = "0"
	}
	return digits, exp
}

// mid is halfway between a and b (nil when b is not finite).
func mid(a *big.Rat, b float64) *big.Rat {
	if math.IsInf(b, 0) {
		return nil
	}
	m := new(big.Rat).Add(a, new(big.Rat).SetFloat64(b))
	return m.Quo(m, big.NewRat(2, 1))
}

func (v floatValue) special() (string, bool) {
	switch {
	case math.IsNaN(v.v):
		return "NaN", true
	case math.IsInf(v.v, 1):
		return "Infinity", true
	case math.IsInf(v.v, -1):
		return "-Infinity", true
	}
	return "", false
}

// sessionText honours extra_float_digits: at 0 or less, pg_strfromd's
// %.*g with FLT_DIG or DBL_DIG plus extra_float_digits significant
// digits (clamped to 1..17).
func (v floatValue) sessionText(c Converter) []byte {
	if !c.RoundFloats {
		return v.text(nil)
	}
	if s, ok := v.special(); ok {
		return []byte(s)
	}
	p := 15 + c.ExtraFloatDigits
	if v.bits == 32 {
		p = 6 + c.ExtraFloatDigits
	}
	p = min(max(p, 1), 17)
	return strconv.AppendFloat(nil, v.v, 'g', p, 64)
}

func (v floatValue) binary() []byte {
	if v.bits == 32 {
		bits := math.Float32bits(float32(v.v))
		if math.IsNaN(v.v) {
			bits = float4NaNBits
		}
		return binary.BigEndian.AppendUint32(nil, bits)
	}
	bits := math.Float64bits(v.v)
	if math.IsNaN(v.v) {
		bits = float8NaNBits
	}
	return binary.BigEndian.AppendUint64(nil, bits)
}

func (d decoder) floatBits() (int, string) {
	if d.t.OID == policy.OIDFloat4 {
		return 32, "real"
	}
	return 64, "double precision"
}

// floatText follows float4in and float8in of PostgreSQL 15 with glibc's
// strtof and strtod: white space, then a decimal number, NaN, Infinity
// or Inf (any case, signed), then white space. A value beyond the type's
// range, or one that is not zero but rounds to zero, is 22003. Hex
// floats and NaN(...) are refused as unsupported.
func (d decoder) floatText(in []byte) (value, error) {
	bits, name := d.floatBits()
	s := trimSpace(in)
	body := s
	if len(body) > 0 && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	switch string(bytes.ToLower(body)) {
	case "nan":
		return floatValue{math.NaN(), bits}, nil
	case "inf", "infinity":
		return floatValue{math.Inf(map[bool]int{true: -1, false: 1}[s[0] == '-']), bits}, nil
	}
	if len(body) > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') || bytes.HasPrefix(bytes.ToLower(body), []byte("nan(")) {
		return nil, d.unsupported("hexadecimal floats and NaN(...) are not accepted")
	}
	nonzero, ok := decimalSyntax(body)
	if !ok {
		return nil, d.coded(pgerr.InvalidTextRepresentation, "", "not a number")
	}
	f, err := strconv.ParseFloat(string(s), bits)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, d.coded(pgerr.InvalidTextRepresentation, "", "not a number")
	}
	if err != nil || math.IsInf(f, 0) || f == 0 && nonzero {
		return nil, d.coded(pgerr.NumericValueOutOfRange, "", "value out of range for type %s", name)
	}
	return floatValue{f, bits}, nil
}

// decimalSyntax checks digits [. digits] or . digits, then an optional
// exponent, and says whether a digit other than 0 appears before it.
func decimalSyntax(s []byte) (nonzero, ok bool) {
	i, digits := 0, 0
	for ; i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.'); i++ {
		if s[i] == '.' {
			if bytes.IndexByte(s[:i], '.') >= 0 {
				return false, false
			}
			continue
		}
		digits++
		nonzero = nonzero || s[i] != '0'
	}
	if digits == 0 {
		return false, false
	}
	if i == len(s) {
		return nonzero, true
	}
	if s[i] != 'e' && s[i] != 'E' {
		return false, false
	}
	i++
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return nonzero, i > j && i == len(s)
}

// floatBinary follows float4recv and float8recv: the IEEE 754 bits. A
// NaN's payload is not kept: every NaN reads back as PostgreSQL's own
// (PostgreSQL itself holds all NaNs equal).
func (d decoder) floatBinary(in []byte) (value, error) {
	bits, _ := d.floatBits()
	if len(in) != bits/8 {
		return nil, d.coded(pgerr.InvalidBinaryRepresentation, "", "want %d bytes, got %d", bits/8, len(in))
	}
	if bits == 32 {
		return floatValue{float64(math.Float32frombits(binary.BigEndian.Uint32(in))), 32}, nil
	}
	return floatValue{math.Float64frombits(binary.BigEndian.Uint64(in)), 64}, nil
}
