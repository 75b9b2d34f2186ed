package pgvalue

import (
	"bytes"
	"encoding/hex"
	"github.com/phiguard/phiguard/internal/pgerr"
	"time"
	"unicode/utf8"
)

// byteaValue is a bytea.
type byteaValue []byte

// text is byteaout with bytea_output = hex, the default and the
// canonical text.
func (v byteaValue) text(*time.Location) []byte {
	b := make([]byte, 2, 2+2*len(v))
	b[0], b[1] = '\\', 'x'
	return hex.AppendEncode(b, v)
}

func (v byteaValue) binary() []byte { return bytes.Clone(v) }

// sessionText honours bytea_output = escape: printable ASCII as it is,
// a backslash doubled, any other byte as \ooo.
func (v byteaValue) sessionText(c Converter) []byte {
	if !c.ByteaEscape {
		return v.text(nil)
	}
	b := make([]byte, 0, len(v))
	for _, c := range v {
		switch {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c < 0x20 || c > 0x7e:
			b = append(b, '\\', '0'+c>>6, '0'+c>>3&7, '0'+c&7)
		default:
			b = append(b, c)
		}
	}
	return b
}

// byteaText follows byteain: \x and pairs of hex digits (white space
// allowed between pairs), else the escape format, where a backslash
// starts \\ or three octal digits (the first 0 to 3).
func (d decoder) byteaText(in []byte) (value, error) {
	if !utf8.Valid(in) || bytes.IndexByte(in, 0) >= 0 {
		return nil, d.coded(pgerr.CharacterNotInRepertoire, "", "not valid UTF-8")
	}
	if len(in) >= 2 && in[0] == '\\' && in[1] == 'x' {
		out := make([]byte, 0, (len(in)-2)/2)
		s := in[2:]
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == ' ' || c == '\n' || c == '\t' || c == '\r' {
				continue
			}
			if !isHex(s[i]) {
				return nil, d.coded(pgerr.InvalidParameterValue, "", "invalid hexadecimal digit")
			}
			if i+1 >= len(s) {
				return nil, d.coded(pgerr.InvalidParameterValue, "invalid hexadecimal data: odd number of digits", "odd number of hex digits")
			}
			if !isHex(s[i+1]) {
				return nil, d.coded(pgerr.InvalidParameterValue, "", "invalid hexadecimal digit")
			}
			out = append(out, unhex(s[i])<<4|unhex(s[i+1]))
			i++
		}
		return byteaValue(out), nil
	}
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		switch {
		case in[i] != '\\':
			out = append(out, in[i])
			i++
		case i+3 < len(in) && in[i+1] >= '0' && in[i+1] <= '3' && isOctal(in[i+2]) && isOctal(in[i+3]):
			out = append(out, (in[i+1]-'0')<<6|(in[i+2]-'0')<<3|(in[i+3]-'0'))
			i += 4
		case i+1 < len(in) && in[i+1] == '\\':
			out = append(out, '\\')
			i += 2
		default:
			return nil, d.coded(pgerr.InvalidTextRepresentation, "", "invalid escape in bytea")
		}
	}
	return byteaValue(out), nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
