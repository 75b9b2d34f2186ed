package pgvalue

import (
	"bytes"
	"encoding/binary"
	"github.com/phiguard/phiguard/internal/pgerr"
	"math/big"
	"strings"
	"time"
)

// Limits of PostgreSQL's numeric storage format (NUMERIC_DSCALE_MAX and
// NUMERIC_WEIGHT_MAX in decimal digits).
const (
	numericMaxDscale    = 0x3FFF
	numericMaxIntDigits = (0x7FFF + 1) * 4
	// Beyond this display scale before rounding the package refuses to
	// compute (PostgreSQL may still accept such input with a typmod).
	numericMaxWorkScale = 20000
)

// Signs of the binary format.
const (
	numericPos  = 0x0000
	numericNeg  = 0x4000
	numericNaN  = 0xC000
	numericPInf = 0xD000
	numericNInf = 0xF000
)

// numericValue is a numeric: a special (NaN, Infinity, -Infinity) or
// (-1)^neg * mag * 10^-dscale.
type numericValue struct {
	special uint16 // 0 for a finite value, else numericNaN/PInf/NInf
	neg     bool
	mag     *big.Int
	dscale  int
}

var bigTen = big.NewInt(10)

func pow10(n int) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }

func (v numericValue) text(*time.Location) []byte {
	switch v.special {
	case numericNaN:
		return []byte("NaN")
	case numericPInf:
		return []byte("Infinity")
	case numericNInf:
		return []byte("-Infinity")
	}
	s := v.mag.String()
	if len(s) <= v.dscale {
		s = strings.Repeat("0", v.dscale-len(s)+1) + s
	}
	var b []byte
	if v.neg && v.mag.Sign() != 0 {
		b = append(b, '-')
	}
	b = append(b, s[:len(s)-v.dscale]...)
	if v.dscale > 0 {
		b = append(b, '.')
		b = append(b, s[len(s)-v.dscale:]...)
	}
	return b
}

// binary is numeric_send of the value as make_result stores it: base-10000
// digits aligned on the decimal point, leading and trailing zero digits
// stripped, zero with weight 0 and a positive sign.
func (v numericValue) binary() []byte {
	hdr := func(n, weight int, sign uint16, dscale int) []byte {
		b := make([]byte, 8, 8+2*n)
		binary.BigEndian.PutUint16(b[0:], uint16(n))
		binary.BigEndian.PutUint16(b[2:], uint16(int16(weight)))
		binary.BigEndian.PutUint16(b[4:], sign)
		binary.BigEndian.PutUint16(b[6:], uint16(dscale))
		return b
	}
	if v.special == numericNaN {
		return hdr(0, 0, v.special, 0)
	}
	if v.special != 0 {
		// numeric_send of an infinity sends the header bits that a
		// finite short numeric keeps its display scale in: 0x20.
		return hdr(0, 0, v.special, 0x20)
	}
	if v.mag.Sign() == 0 {
		return hdr(0, 0, numericPos, v.dscale)
	}
	s := v.mag.String()
	if len(s) <= v.dscale {
		s = strings.Repeat("0", v.dscale-len(s)+1) + s
	}
	intPart, frac := s[:len(s)-v.dscale], s[len(s)-v.dscale:]
	intPart = strings.Repeat("0", (4-len(intPart)%4)%4) + intPart
	frac += strings.Repeat("0", (4-len(frac)%4)%4)
	all := intPart + frac
	groups := make([]uint16, len(all)/4)
	for i := range groups {
		g := all[4*i : 4*i+4]
		groups[i] = uint16(g[0]-'0')*1000 + uint16(g[1]-'0')*100 + uint16(g[2]-'0')*10 + uint16(g[3]-'0')
	}
	weight := len(intPart)/4 - 1
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	sign := uint16(numericPos)
	if v.neg {
		sign = numericNeg
	}
	b := hdr(len(groups), weight, sign, v.dscale)
	for _, g := range groups {
		b = binary.BigEndian.AppendUint16(b, g)
	}
	return b
}

// numericText follows numeric_in and set_var_from_str of PostgreSQL 15.
func (d decoder) numericText(in []byte) (value, error) {
	s := in
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	v := numericValue{}
	lower := bytes.ToLower(s)
	for _, sp := range []struct {
		word string
		kind uint16
	}{
		{"nan", numericNaN}, {"infinity", numericPInf}, {"+infinity", numericPInf}, {"-infinity", numericNInf},
		{"inf", numericPInf}, {"+inf", numericPInf}, {"-inf", numericNInf},
	} {
		if bytes.HasPrefix(lower, []byte(sp.word)) && len(trimSpace(s[len(sp.word):])) == 0 {
			v.special = sp.kind
			return d.numericTypmod(v)
		}
	}
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		v.neg = s[i] == '-'
		i++
	}
	var digits []byte
	frac, haveDP := 0, false
	if i < len(s) && s[i] == '.' {
		haveDP = true
		i++
	}
	if i >= len(s) || s[i] < '0' || s[i] > '9' {
		return nil, d.err("not a number")
	}
	for i < len(s) {
		c := s[i]
		if c >= '0' && c <= '9' {
			digits = append(digits, c)
			if haveDP {
				frac++
			}
		} else if c == '.' {
			if haveDP {
				return nil, d.err("not a number")
			}
			haveDP = true
		} else {
			break
		}
		i++
	}
	exp := int64(0)
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		// strtol: white space, a sign, digits.
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if exp < 1<<40 {
				exp = exp*10 + int64(s[i]-'0')
			}
			i++
		}
		if i == j {
			return nil, d.err("not a number")
		}
		if exp >= (1<<31-1)/2 {
			return nil, d.coded(pgerr.NumericValueOutOfRange, "value overflows numeric format", "value overflows numeric format")
		}
		if eneg {
			exp = -exp
		}
	}
	if len(trimSpace(s[i:])) != 0 {
		return nil, d.err("not a number")
	}
	sig := bytes.TrimLeft(digits, "0")
	scale := int64(frac) - exp // value = digits * 10^-scale
	dscale := max(scale, 0)
	if len(sig) > 0 && int64(len(sig))-scale > numericMaxIntDigits {
		return nil, d.coded(pgerr.NumericValueOutOfRange, "value overflows numeric format", "value overflows numeric format")
	}
	if dscale > numericMaxWorkScale {
		return nil, d.unsupported("display scale too large")
	}
	v.mag = new(big.Int)
	if len(sig) > 0 {
		v.mag.SetString(string(sig), 10)
		if scale < 0 {
			v.mag.Mul(v.mag, pow10(int(-scale)))
		}
	}
	v.dscale = int(dscale)
	return d.numericTypmod(v)
}

// numericBinary follows numeric_recv: the header, digits in 0..9999, no
// trailing bytes; digits beyond the display scale are truncated.
func (d decoder) numericBinary(in []byte) (value, error) {
	if len(in) < 8 {
		return nil, d.err("want at least 8 bytes, got %d", len(in))
	}
	n := int(binary.BigEndian.Uint16(in[0:]))
	weight := int(int16(binary.BigEndian.Uint16(in[2:])))
	sign := binary.BigEndian.Uint16(in[4:])
	dscale := int(binary.BigEndian.Uint16(in[6:]))
	if len(in) != 8+2*n {
		return nil, d.err("%d digits need %d bytes, got %d", n, 8+2*n, len(in))
	}
	switch sign {
	case numericPos, numericNeg, numericNaN, numericPInf, numericNInf:
	default:
		return nil, d.err("invalid sign")
	}
	if dscale > numericMaxDscale {
		return nil, d.err("invalid scale")
	}
	digits := make([]uint16, n)
	for i := range digits {
		digits[i] = binary.BigEndian.Uint16(in[8+2*i:])
		if digits[i] > 9999 {
			return nil, d.err("invalid digit")
		}
	}
	if sign != numericPos && sign != numericNeg {
		return d.numericTypmod(numericValue{special: sign})
	}
	v := numericValue{neg: sign == numericNeg, dscale: dscale, mag: new(big.Int)}
	for len(digits) > 0 && digits[0] == 0 {
		digits = digits[1:]
		weight--
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	if len(digits) > 0 {
		// value = N * 10^e with N the digits read in base 10000.
		e := 4*(weight-len(digits)+1) + dscale
		if e >= -4*len(digits) {
			var sb strings.Builder
			for _, g := range digits {
				sb.WriteString(string([]byte{byte('0' + g/1000), byte('0' + g/100%10), byte('0' + g/10%10), byte('0' + g%10)}))
			}
			v.mag.SetString(sb.String(), 10)
			if e >= 0 {
				v.mag.Mul(v.mag, pow10(e))
			} else {
				v.mag.Quo(v.mag, pow10(-e))
			}
		}
	}
	return d.numericTypmod(v)
}

// numericTypmod is apply_typmod and apply_typmod_special, then
// make_result's checks of the storage format.
func (d decoder) numericTypmod(v numericValue) (value, error) {
	mod := d.t.Modifier
	if v.special != 0 {
		if mod >= 4 && v.special != numericNaN {
			return nil, d.coded(pgerr.NumericValueOutOfRange, "numeric field overflow", "numeric field overflow: a column with a precision cannot hold an infinite value")
		}
		return v, nil
	}
	if mod >= 4 {
		m := mod - 4
		precision := int(m>>16) & 0xffff
		scale := int((m&0x7ff)^1024) - 1024
		// round_var to scale, half away from zero.
		if scale >= v.dscale {
			v.mag.Mul(v.mag, pow10(scale-v.dscale))
		} else {
			div := pow10(v.dscale - scale)
			q, r := new(big.Int).QuoRem(v.mag, div, new(big.Int))
			if r.Lsh(r, 1).Cmp(div) >= 0 {
				q.Add(q, big.NewInt(1))
			}
			v.mag = q
		}
		v.dscale = scale
		if v.dscale < 0 {
			v.mag.Mul(v.mag, pow10(-v.dscale))
			v.dscale = 0
		}
		if v.mag.Sign() != 0 {
			if lim := precision - scale + v.dscale; lim < 0 || v.mag.Cmp(pow10(lim)) >= 0 {
				return nil, d.coded(pgerr.NumericValueOutOfRange, "numeric field overflow", "numeric field overflow (precision %d, scale %d)", precision, scale)
			}
		}
	}
	if v.mag.Sign() == 0 {
		v.neg = false
	}
	if v.dscale > numericMaxDscale {
		return nil, d.coded(pgerr.NumericValueOutOfRange, "value overflows numeric format", "value overflows numeric format")
	}
	if v.mag.Sign() != 0 && len(v.mag.String())-v.dscale > numericMaxIntDigits {
		return nil, d.coded(pgerr.NumericValueOutOfRange, "value overflows numeric format", "value overflows numeric format")
	}
	return v, nil
}
