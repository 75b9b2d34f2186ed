package pgvalue

import (
	"encoding/hex"
	"github.com/phiguard/phiguard/internal/pgerr"
	"time"

	"github.com/phiguard/phiguard/policy"
)

// decodeMore decodes the types beyond the first ten (uuid, char(n),
// real, double precision, time, timetz, interval, bytea, json, jsonb);
// ok is false for any other type.
func (d decoder) decodeMore(in []byte) (v value, ok bool, err error) {
	bin := d.f == FormatBinary
	switch d.t.OID {
	case policy.OIDUUID:
		if bin {
			v, err = d.uuidBinary(in)
		} else {
			v, err = d.uuidText(in)
		}
	case policy.OIDBpchar:
		v, err = d.bpchar(in)
	case policy.OIDFloat4, policy.OIDFloat8:
		if bin {
			v, err = d.floatBinary(in)
		} else {
			v, err = d.floatText(in)
		}
	case policy.OIDTime, policy.OIDTimetz:
		if bin {
			v, err = d.timeBinary(in)
		} else {
			v, err = d.timeText(in)
		}
	case policy.OIDInterval:
		if bin {
			v, err = d.intervalBinary(in)
		} else {
			v, err = d.intervalText(in)
		}
	case policy.OIDBytea:
		if bin {
			v, err = byteaValue(append([]byte(nil), in...)), nil
		} else {
			v, err = d.byteaText(in)
		}
	case policy.OIDJSON:
		v, err = d.json(in)
	case policy.OIDJSONB:
		if bin {
			v, err = d.jsonbBinary(in)
		} else {
			v, err = d.jsonb(in)
		}
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	return v, true, nil
}

// uuidValue is a uuid.
type uuidValue [16]byte

func (v uuidValue) text(*time.Location) []byte {
	b := make([]byte, 0, 36)
	for i, c := range v {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = hex.AppendEncode(b, []byte{c})
	}
	return b
}

func (v uuidValue) binary() []byte { return append([]byte(nil), v[:]...) }

// uuidText follows string_to_uuid: an optional pair of braces around 32
// hex digits, a hyphen allowed after any group of four; no white space.
func (d decoder) uuidText(in []byte) (value, error) {
	var v uuidValue
	s := in
	braces := len(s) > 0 && s[0] == '{'
	if braces {
		s = s[1:]
	}
	for i := 0; i < 16; i++ {
		if len(s) < 2 || !isHex(s[0]) || !isHex(s[1]) {
			return nil, d.coded(pgerr.InvalidTextRepresentation, "", "not a uuid")
		}
		v[i] = unhex(s[0])<<4 | unhex(s[1])
		s = s[2:]
		if len(s) > 0 && s[0] == '-' && i%2 == 1 && i < 15 {
			s = s[1:]
		}
	}
	if braces {
		if len(s) == 0 || s[0] != '}' {
			return nil, d.coded(pgerr.InvalidTextRepresentation, "", "not a uuid")
		}
		s = s[1:]
	}
	if len(s) != 0 {
		return nil, d.coded(pgerr.InvalidTextRepresentation, "", "not a uuid")
	}
	return v, nil
}

func (d decoder) uuidBinary(in []byte) (value, error) {
	if len(in) != 16 {
		return nil, d.coded(pgerr.InvalidBinaryRepresentation, "", "want 16 bytes, got %d", len(in))
	}
	var v uuidValue
	copy(v[:], in)
	return v, nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
