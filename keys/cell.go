package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Prefix starts every cell. See the package documentation for why it was
// chosen.
const Prefix = "~phg~"

const (
	formatV1 byte = 1 // the only cell layout so far

	maxKeyIDLen = 64
	gcmNonceLen = 12
	gcmTagLen   = 16
	sivLen      = 16
)

var b64 = base64.RawURLEncoding

// cell is a parsed cell. header is the exact byte string the associated
// data binds; body is nonce|ciphertext|tag (GCM) or siv|ciphertext (SIV).
type cell struct {
	mode       Mode
	keyID      []byte // in header: a map index by string(keyID) does not copy it
	keyVersion uint32
	header     []byte
	body       []byte
	// termVersion is a format-2 cell's tv; 0 for format 1.
	termVersion uint32
}

// appendHeader appends format version, mode, key id and key version.
func appendHeader(dst []byte, mode Mode, keyID string, version uint32) []byte {
	dst = append(dst, formatV1, byte(mode), byte(len(keyID)))
	dst = append(dst, keyID...)
	return binary.BigEndian.AppendUint32(dst, version)
}

// encodeCell returns Prefix + base64url(header | body).
func encodeCell(header, body []byte) []byte {
	raw := make([]byte, 0, len(header)+len(body))
	raw = append(append(raw, header...), body...)
	out := make([]byte, len(Prefix)+b64.EncodedLen(len(raw)))
	copy(out, Prefix)
	b64.Encode(out[len(Prefix):], raw)
	return out
}

// IsCell reports whether v is a well-formed cell of either format: the
// prefix, valid base64url, a known format version and mode, a valid key
// id, a non-zero key version and a body long enough for the mode; for
// format 2 also well-formed term sections. It does not authenticate the
// cell; Keyring.Decrypt does.
func IsCell(v []byte) bool {
	_, err := parseCell(v)
	return err == nil
}

// parseCell splits a cell into its parts, or returns an error wrapping
// ErrNotACell that says which part is wrong.
func parseCell(v []byte) (cell, error) {
	c, _, err := parseCellInto(nil, v)
	return c, err
}

// parseCellInto is parseCell decoding into raw's array (grown when it is
// too short), which the cell's parts then share; it also returns that
// array for the next call. A format-2 cell's terms are checked, not
// decoded: its B is read as a format-1 cell.
func parseCellInto(raw, v []byte) (cell, []byte, error) {
	text, tv, err := cellText(v)
	if err != nil {
		return cell{}, raw, err
	}
	c, raw, err := decodeCellText(raw, text)
	c.termVersion = tv
	return c, raw, err
}

// decodeCellText parses the base64url text of a format-1 cell (after its
// prefix; B of format 2).
func decodeCellText(raw, text []byte) (cell, []byte, error) {
	if need := b64.DecodedLen(len(text)); cap(raw) < need {
		raw = make([]byte, need)
	}
	raw = raw[:cap(raw)]
	// The decoder rejects every other byte outside base64url but skips
	// '\r' and '\n'; a cell has exactly one spelling. A text of a valid
	// length (not 4q+1) that it decoded skipping some gives fewer bytes
	// than its length says (the decoded length grows strictly with valid
	// lengths), so the length tells, without a scan for them first.
	n, err := b64Strict.Decode(raw, text)
	if err != nil || len(text)%4 == 1 || n != len(text)*6/8 {
		if bytes.IndexByte(text, '\r') >= 0 || bytes.IndexByte(text, '\n') >= 0 {
			return cell{}, raw, fmt.Errorf("%w: byte outside base64url", ErrNotACell)
		}
		return cell{}, raw, fmt.Errorf("%w: bad base64url", ErrNotACell)
	}
	c, err := splitCell(raw[:n])
	return c, raw, err
}

// splitCell reads a decoded cell's header.
func splitCell(raw []byte) (cell, error) {
	if len(raw) < 3 {
		return cell{}, fmt.Errorf("%w: truncated header", ErrNotACell)
	}
	if raw[0] != formatV1 {
		return cell{}, fmt.Errorf("%w: unknown format version %d", ErrNotACell, raw[0])
	}
	mode := Mode(raw[1])
	if !mode.valid() {
		return cell{}, fmt.Errorf("%w: unknown mode %d", ErrNotACell, raw[1])
	}
	idLen := int(raw[2])
	hdrLen := 3 + idLen + 4
	if len(raw) < hdrLen {
		return cell{}, fmt.Errorf("%w: truncated header", ErrNotACell)
	}
	keyID := raw[3 : 3+idLen : 3+idLen]
	if !validKeyID(keyID) {
		return cell{}, fmt.Errorf("%w: bad key id", ErrNotACell)
	}
	version := binary.BigEndian.Uint32(raw[3+idLen : hdrLen])
	if version == 0 {
		return cell{}, fmt.Errorf("%w: key version 0", ErrNotACell)
	}
	body := raw[hdrLen:]
	minBody := sivLen
	if mode == Randomized {
		minBody = gcmNonceLen + gcmTagLen
	}
	if len(body) < minBody {
		return cell{}, fmt.Errorf("%w: truncated body", ErrNotACell)
	}
	return cell{mode: mode, keyID: keyID, keyVersion: version, header: raw[:hdrLen], body: body}, nil
}

// ValidateKeyID checks a key id: 1 to 64 characters from [A-Za-z0-9._-].
// Key ids appear in every cell, in Vault paths and in messages, so they are
// kept to characters that need no escaping anywhere.
func ValidateKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("keys: key id %q: length must be 1 to %d", id, maxKeyIDLen)
	}
	if !keyIDBytesOK(id) {
		return fmt.Errorf("keys: key id %q: only letters, digits, '.', '_' and '-' are allowed", id)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("keys: key id %q is reserved", id)
	}
	return nil
}

// validKeyID is ValidateKeyID's verdict on a key id read from a cell,
// without building its error.
func validKeyID(id []byte) bool {
	return len(id) > 0 && len(id) <= maxKeyIDLen && keyIDBytesOK(id) && string(id) != "." && string(id) != ".."
}

// keyIDBytesOK: every byte is a letter, a digit, '.', '_' or '-'.
func keyIDBytesOK[T string | []byte](id T) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CellInfo is what a cell's header says about it. It is not authenticated
// until the cell is decrypted.
type CellInfo struct {
	Mode       Mode
	KeyID      string
	KeyVersion uint32
	// TermVersion is the term key version of a format-2 cell (the
	// search_key_version its terms derive from); 0 for a cell without
	// terms.
	TermVersion uint32
}

// Inspect returns a cell's header without decrypting it, for instance to
// find cells below the write version during re-encryption. ErrNotACell if v
// is not a well-formed cell.
func Inspect(v []byte) (CellInfo, error) {
	c, err := parseCell(v)
	if err != nil {
		return CellInfo{}, err
	}
	return CellInfo{Mode: c.mode, KeyID: string(c.keyID), KeyVersion: c.keyVersion, TermVersion: c.termVersion}, nil
}

// ContainsCell reports whether a well-formed cell of either format
// appears anywhere in v: as the whole value, or inside a value PostgreSQL
// built from one (a row's or an array's text, a concatenation). The proxy
// asks it of result values it does not decrypt, so a cell that reached a
// column phiguard does not know as encrypted is refused rather than
// served; it looks for the prefixes first, which a value without one
// costs two bytes.Index. A format-2 cell counts when its B is a
// well-formed cell, whatever its term sections hold: this check refuses
// ciphertext, and B is the ciphertext.
func ContainsCell(v []byte) bool {
	return containsV1(v) || containsTerms(v)
}

func containsV1(v []byte) bool {
	for {
		i := bytes.Index(v, prefixBytes)
		if i < 0 {
			return false
		}
		v = v[i:]
		n := len(Prefix)
		for n < len(v) && isBase64URL(v[n]) {
			n++
		}
		if IsCell(v[:n]) || IsSubjectCell(v[:n]) {
			return true
		}
		v = v[len(Prefix):]
	}
}

func containsTerms(v []byte) bool {
	for {
		i := bytes.Index(v, termsPrefixBytes)
		if i < 0 {
			return false
		}
		v = v[i:]
		if n := termsCellLen(v); n > 0 {
			b := v[bytes.LastIndexByte(v[:n], '~')+1 : n]
			if _, _, err := decodeCellText(nil, b); err == nil || isSubjectText(b) {
				return true
			}
		}
		v = v[len(TermsPrefix):]
	}
}

// HasCellPrefix reports whether v holds either cell prefix: the cheap
// test before ContainsCell.
func HasCellPrefix(v []byte) bool {
	return bytes.Contains(v, prefixBytes) || bytes.Contains(v, termsPrefixBytes)
}

var termsPrefixBytes = []byte(TermsPrefix)

var prefixBytes = []byte(Prefix)

func isBase64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
