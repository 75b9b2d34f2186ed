package audit

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"strconv"

	"github.com/phiguard/phiguard/keys"
)

// MACKeySize is the length of the chain's HMAC-SHA256 key.
const MACKeySize = 32

// MACKey keys the HMAC chain. ID and Version name the data key it was
// derived from; they are written in each chain's audit_start record so a
// verifier knows which key to ask for.
type MACKey struct {
	ID      string
	Version uint32
	Secret  keys.Secret
}

// DeriveKey derives the chain key from a data key (by convention key id
// "audit") with HKDF-SHA256, info = "phiguard audit mac v1" | 0 | len(id)
// | id | version. The data key's root itself never keys the HMAC, and a
// root stored under another id or version yields an unrelated key.
func DeriveKey(dk keys.DataKey) (MACKey, error) {
	root := dk.Key.Expose()
	defer clear(root)
	if len(root) != keys.DataKeySize {
		return MACKey{}, fmt.Errorf("audit: data key %q version %d: must be %d bytes", dk.ID, dk.Version, keys.DataKeySize)
	}
	info := []byte("phiguard audit mac v1")
	info = append(info, 0, byte(len(dk.ID)))
	info = append(info, dk.ID...)
	info = binary.BigEndian.AppendUint32(info, dk.Version)
	k, err := hkdf.Key(sha256.New, root, nil, string(info), MACKeySize)
	if err != nil {
		return MACKey{}, fmt.Errorf("audit: derive: %w", err)
	}
	defer clear(k)
	return MACKey{ID: dk.ID, Version: dk.Version, Secret: keys.NewSecret(k)}, nil
}

// The MAC is base64url without padding: 43 characters for 32 bytes.
var macEncoding = base64.RawURLEncoding

const macLen = 43

var (
	seqPrefix  = []byte(`{"seq":`)
	prevPrefix = []byte(`,"prev_mac":"`)
	macPrefix  = []byte(`,"mac":"`)
	lineSuffix = []byte("\"}\n")
)

// chain is the writer's side of the HMAC chain. Not safe for concurrent use.
type chain struct {
	h    hash.Hash
	seq  uint64 // of the last sealed record
	prev string // its MAC
	sum  []byte
}

func newChain(k MACKey, lastSeq uint64, lastMAC string) (*chain, error) {
	if k.Secret.Len() != MACKeySize {
		return nil, fmt.Errorf("audit: the chain key must be %d bytes, got %d", MACKeySize, k.Secret.Len())
	}
	raw := k.Secret.Expose()
	defer clear(raw)
	return &chain{h: hmac.New(sha256.New, raw), seq: lastSeq, prev: lastMAC}, nil
}

// seal appends the record for e (whose Seq, PrevMAC and MAC are empty) to
// dst as one line: {"seq":N,<e's fields>,"prev_mac":"P","mac":"M"}. The
// MAC is HMAC-SHA256 over the line's bytes from '{' up to and including
// the closing quote of prev_mac.
func (c *chain) seal(dst []byte, e *Entry) []byte {
	if e.Seq != 0 || e.PrevMAC != "" || e.MAC != "" {
		panic("BUG: audit: sealing an entry that carries its own seq or MACs")
	}
	c.seq++
	start := len(dst)
	dst = append(dst, seqPrefix...)
	dst = strconv.AppendUint(dst, c.seq, 10)
	dst = append(dst, ',')
	dst = appendEntryFields(dst, e)
	dst = append(dst, prevPrefix...)
	dst = append(dst, c.prev...)
	dst = append(dst, '"')
	c.h.Reset()
	c.h.Write(dst[start:])
	c.sum = c.h.Sum(c.sum[:0])
	dst = append(dst, macPrefix...)
	mac := len(dst)
	dst = macEncoding.AppendEncode(dst, c.sum)
	c.prev = string(dst[mac:])
	return append(dst, lineSuffix...)
}

// splitLine splits a record line (without its newline) into the bytes the
// MAC covers and the MAC it carries.
func splitLine(line []byte) (content []byte, mac string, ok bool) {
	// ..."prev_mac":"P","mac":"<43>"}
	n := len(line)
	tail := len(macPrefix) + macLen + 2
	if n < tail || !bytes.HasSuffix(line, []byte(`"}`)) || !bytes.Equal(line[n-tail:n-tail+len(macPrefix)], macPrefix) {
		return nil, "", false
	}
	return line[:n-tail], string(line[n-macLen-2 : n-2]), true
}

// macOf computes the MAC of content with key.
func macOf(h hash.Hash, content []byte) string {
	h.Reset()
	h.Write(content)
	return macEncoding.EncodeToString(h.Sum(nil))
}
