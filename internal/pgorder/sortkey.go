package pgorder

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/policy"
)

// SortKey is a canonical value of t as bytes whose memcmp order is
// PostgreSQL's order of the values (text under the C collation), and
// equal exactly for values PostgreSQL's = calls equal: the sort input s of
// docs/design/search-terms.md §4.2, untruncated.
//
//	smallint, integer, bigint  big-endian two's complement, sign bit flipped (2, 4, 8 bytes)
//	date                       days since 2000-01-01, int32, sign flipped (±infinity: int32's ends)
//	timestamp, timestamptz     microseconds since 2000-01-01 (UTC), int64, sign flipped
//	time                       microseconds since midnight, int64
//	interval                   total span (30-day months, 24-hour days) in
//	                           microseconds, 128-bit, sign flipped
//	numeric                    numericKey
//	uuid                       the 16 bytes
//	boolean                    0x00, 0x01
//	bytea, text, varchar       the bytes
//	char(n)                    the bytes without trailing spaces
//
// Floats, timetz, json, jsonb and arrays have none (the design gives them
// no terms).
func SortKey(t policy.LogicalType, canon []byte) ([]byte, error) {
	switch t.OID {
	case policy.OIDInt2, policy.OIDInt4, policy.OIDInt8:
		return intKey(t, canon)
	case policy.OIDBool:
		switch string(canon) {
		case "t":
			return []byte{1}, nil
		case "f":
			return []byte{0}, nil
		}
		return nil, fmt.Errorf("pgorder: boolean is not canonical")
	case policy.OIDNumeric:
		return numericKey(string(canon))
	case policy.OIDDate, policy.OIDTimestamp, policy.OIDTimestamptz, policy.OIDTime:
		bin, err := pgvalue.Present(t, 1, canon)
		if err != nil {
			return nil, err
		}
		if t.OID != policy.OIDTime {
			bin[0] ^= 0x80
		}
		return bin, nil
	case policy.OIDInterval:
		return intervalKey(t, canon)
	case policy.OIDUUID, policy.OIDBytea:
		return pgvalue.Present(t, 1, canon)
	case policy.OIDBpchar:
		return bytes.TrimRight(canon, " "), nil
	case policy.OIDText, policy.OIDVarchar:
		return canon, nil
	}
	return nil, fmt.Errorf("pgorder: no sort key for type %s", t.Name)
}

// EqualityKey is the equality input q of docs/design/search-terms.md §4.2:
// equal exactly for values PostgreSQL's = calls equal. It is SortKey,
// untruncated, for every type: SortKey already maps equal values alike
// (numeric 1.0 and 1.00, interval '1 mon' and '30 days', char(n) with and
// without trailing spaces), and text equality is byte equality under every
// deterministic collation, which is the C collation's SortKey.
func EqualityKey(t policy.LogicalType, canon []byte) ([]byte, error) {
	return SortKey(t, canon)
}

func intKey(t policy.LogicalType, canon []byte) ([]byte, error) {
	bits := map[uint32]int{policy.OIDInt2: 16, policy.OIDInt4: 32, policy.OIDInt8: 64}[t.OID]
	n, err := strconv.ParseInt(string(canon), 10, bits)
	if err != nil {
		return nil, fmt.Errorf("pgorder: %s is not canonical", t.Name)
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(n))[8-bits/8:]
	b[0] ^= 0x80
	return b, nil
}

// intervalKey is the span interval_cmp compares, as 16 bytes of two's
// complement with the sign bit flipped. The span fits in 74 bits.
func intervalKey(t policy.LogicalType, canon []byte) ([]byte, error) {
	k, err := parseInterval(t, canon)
	if err != nil {
		return nil, err
	}
	v := new(big.Int).Set(k.span)
	if v.Sign() < 0 {
		v.Add(v, new(big.Int).Lsh(big.NewInt(1), 128))
	}
	out := v.FillBytes(make([]byte, 16))
	out[0] ^= 0x80
	return out, nil
}

// Numeric key classes, in PostgreSQL's order (NaN above everything).
const (
	numNegInf = 0x01
	numNeg    = 0x40
	numZero   = 0x80
	numPos    = 0xC0
	numPosInf = 0xFE
	numNaN    = 0xFF
)

// numericKey encodes a canonical numeric (SQLite4's key-encoding idea):
// a class byte; for a finite nonzero value the base-10000 weight of its
// first nonzero base-10000 digit (PostgreSQL's own weight, an int16, so
// every numeric PostgreSQL stores fits) as 2 bytes biased by 0x8000; its
// decimal digits from that base-10000 digit on, as base-100 pairs plus 1
// (1..100), trailing zero pairs dropped; and a 0x00 terminator. For a
// negative value every byte after the class byte is complemented, so a
// larger magnitude sorts first. Equal values (1.0, 1.00; -0 and 0) get
// equal keys.
func numericKey(s string) ([]byte, error) {
	switch s {
	case "NaN":
		return []byte{numNaN}, nil
	case "Infinity":
		return []byte{numPosInf}, nil
	case "-Infinity":
		return []byte{numNegInf}, nil
	}
	class := byte(numPos)
	if rest, neg := strings.CutPrefix(s, "-"); neg {
		class, s = numNeg, rest
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" || strings.Trim(intPart+frac, "0123456789") != "" {
		return nil, fmt.Errorf("pgorder: numeric is not a plain decimal")
	}
	intPart = strings.TrimLeft(intPart, "0")
	var weight int
	var digits string
	if intPart != "" {
		groups := (len(intPart) + 3) / 4
		weight = groups - 1
		digits = strings.Repeat("0", 4*groups-len(intPart)) + intPart + frac
	} else {
		zeros := len(frac) - len(strings.TrimLeft(frac, "0"))
		if zeros == len(frac) {
			return []byte{numZero}, nil
		}
		weight = -(zeros/4 + 1)
		digits = frac[zeros/4*4:]
	}
	if weight < -32768 || weight > 32767 {
		return nil, fmt.Errorf("pgorder: numeric out of PostgreSQL's range")
	}
	digits = strings.TrimRight(digits, "0")
	if len(digits)%2 == 1 {
		digits += "0"
	}
	key := make([]byte, 0, 4+len(digits)/2)
	key = append(key, class)
	key = binary.BigEndian.AppendUint16(key, uint16(weight+0x8000))
	for i := 0; i < len(digits); i += 2 {
		key = append(key, (digits[i]-'0')*10+digits[i+1]-'0'+1)
	}
	key = append(key, 0)
	if class == numNeg {
		for i := 1; i < len(key); i++ {
			key[i] = ^key[i]
		}
	}
	return key, nil
}
