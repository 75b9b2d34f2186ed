package audit

import (
	"strconv"
	"unicode/utf8"
)

// The hand encoder below writes an Entry exactly as encoding/json does
// (with SetEscapeHTML(false)): the same keys, in the struct's order, the
// same omitempty rules and byte-for-byte the same string escaping. It
// exists because reflection made encoding/json the largest cost of an
// audited statement; TestAppendEntryMatchesEncodingJSON and
// FuzzAppendEntry hold it to encoding/json's output. Decoding (verify,
// report, resume) still uses encoding/json.
//
// Whoever adds a field to Entry or Subjects adds it here too, in the same
// place; the tests fail until they do.

// appendEntryFields appends e's members without the enclosing braces, so
// chain.seal can put seq before them and the MACs after them. Time, Event
// and Instance are never omitted, so the result is never empty.
func appendEntryFields(b []byte, e *Entry) []byte {
	if e.Seq != 0 {
		b = append(b, `"seq":`...)
		b = strconv.AppendUint(b, e.Seq, 10)
		b = append(b, ',')
	}
	b = appendStr(b, `"time":`, e.Time)
	b = appendStr(b, `,"event":`, e.Event)
	b = appendStr(b, `,"instance":`, e.Instance)

	b = appendOptStr(b, `,"session":`, e.Session)
	b = appendOptStr(b, `,"client":`, e.Client)
	b = appendOptStr(b, `,"tls":`, e.TLS)
	b = appendOptStr(b, `,"cert_subject":`, e.CertSubject)
	b = appendOptStr(b, `,"user":`, e.User)
	b = appendOptStr(b, `,"role":`, e.Role)
	b = appendOptStr(b, `,"database":`, e.Database)

	b = appendOptStr(b, `,"protocol":`, e.Protocol)
	b = appendOptStr(b, `,"kind":`, e.Kind)
	b = appendOptStr(b, `,"fingerprint":`, e.Fingerprint)
	b = appendOptStr(b, `,"sql":`, e.SQL)
	if e.SQLTruncated {
		b = append(b, `,"sql_truncated":true`...)
	}
	b = appendStrs(b, `,"tables":`, e.Tables)
	b = appendStrs(b, `,"read":`, e.Read)
	b = appendStrs(b, `,"written":`, e.Written)
	b = appendOptStr(b, `,"decision":`, e.Decision)
	b = appendOptStr(b, `,"rule":`, e.Rule)
	b = appendIntPtr(b, `,"rows":`, e.Rows)
	if len(e.Subjects) > 0 {
		b = append(b, `,"subjects":[`...)
		for i := range e.Subjects {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSubjects(b, &e.Subjects[i])
		}
		b = append(b, ']')
	}
	b = appendIntPtr(b, `,"duration_us":`, e.DurationUS)
	b = appendOptStr(b, `,"sqlstate":`, e.SQLState)
	b = appendOptStr(b, `,"reason":`, e.Reason)
	b = appendIntPtr(b, `,"statements":`, e.Statements)
	if e.Granted != nil {
		b = append(b, `,"granted":`...)
		b = strconv.AppendBool(b, *e.Granted)
	}

	b = appendOptStr(b, `,"action":`, e.Action)
	b = appendOptStr(b, `,"key_id":`, e.KeyID)
	b = appendOptUint(b, `,"key_version":`, uint64(e.KeyVersion))
	b = appendOptStr(b, `,"subject":`, e.Subject)
	b = appendOptStr(b, `,"outcome":`, e.Outcome)
	b = appendOptStr(b, `,"error":`, e.Error)

	b = appendOptStr(b, `,"policy_file":`, e.PolicyFile)
	b = appendOptStr(b, `,"policy_version":`, e.PolicyVersion)
	if e.Accepted != nil {
		b = append(b, `,"accepted":`...)
		b = strconv.AppendBool(b, *e.Accepted)
	}
	b = appendOptInt(b, `,"problems":`, int64(e.Problems))

	b = appendOptStr(b, `,"alert":`, e.Alert)
	b = appendOptInt(b, `,"count":`, e.Count)
	b = appendOptInt(b, `,"threshold":`, e.Threshold)
	b = appendOptInt(b, `,"window_s":`, e.WindowS)

	b = appendOptInt(b, `,"torn_tail_bytes":`, e.TornTailBytes)
	b = appendOptUint(b, `,"rejected":`, e.Rejected)

	b = appendOptStr(b, `,"prev_mac":`, e.PrevMAC)
	b = appendOptStr(b, `,"mac":`, e.MAC)
	return b
}

// appendEntry appends e as one JSON object, as json.Marshal would.
func appendEntry(b []byte, e *Entry) []byte {
	b = append(b, '{')
	b = appendEntryFields(b, e)
	return append(b, '}')
}

func appendSubjects(b []byte, s *Subjects) []byte {
	b = appendStr(b, `{"table":`, s.Table)
	b = appendStr(b, `,"column":`, s.Column)
	b = appendStrs(b, `,"ids":`, s.IDs)
	b = appendOptInt(b, `,"omitted":`, s.Omitted)
	if s.NotInResult {
		b = append(b, `,"not_in_result":true`...)
	}
	return append(b, '}')
}

func appendStr(b []byte, key, v string) []byte {
	b = append(b, key...)
	return appendJSONString(b, v)
}

func appendOptStr(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendStr(b, key, v)
}

func appendStrs(b []byte, key string, vs []string) []byte {
	if len(vs) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}

func appendIntPtr(b []byte, key string, v *int64) []byte {
	if v == nil {
		return b
	}
	b = append(b, key...)
	return strconv.AppendInt(b, *v, 10)
}

func appendOptInt(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, key...)
	return strconv.AppendInt(b, v, 10)
}

func appendOptUint(b []byte, key string, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, key...)
	return strconv.AppendUint(b, v, 10)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: '"' and '\\' escaped, control characters as \b,
// \f, \n, \r, \t or \u00XX, each byte of invalid UTF-8 as \ufffd, and
// U+2028 and U+2029 escaped (they end a line in JavaScript).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
