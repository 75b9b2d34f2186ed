package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
)

// Sizes of the search terms (docs/design/search-terms.md §2.2, §4).
const (
	// EqTermSize is the equality term's length in bytes.
	EqTermSize = 8
	// TokenSize is a match token's length in base64url characters (the
	// first 4 bytes of its HMAC).
	TokenSize = 6
)

// termKind is the byte that separates the three term keys of a column in
// their derivation, so no match token ever equals an equality term.
type termKind byte

const (
	termEq    termKind = 'e'
	termOrd   termKind = 'o'
	termMatch termKind = 'm'
)

// Terms computes a column's search terms from bytes: E (Eq), O (Ord) and
// the match tokens (Token). Its three keys are derived from one version of
// a data key (the column's search_key_version) and bound to the key id, the
// version and a domain: the column, or for a deterministic column its key
// (the caller decides, as it decides a cell's associated data). So one value
// gives different terms in different columns under one shared key, and
// under different versions.
//
// Terms know no type, collation or SQL: the caller hands them the
// canonical inputs (q, s_P, trigram text) of docs/design/search-terms.md
// §4.2 and §4.5. Every term is deterministic: that is its purpose, and
// what it reveals is listed in §6 of that page.
//
// A Terms is immutable and safe for concurrent use. It prints no key.
type Terms struct {
	keyID   string
	version uint32
	domain  Column
	eq      *macPool
	match   *macPool
	ord     cipher.Block // keyed with K_o: the OPE's k_0
}

// macPool hands out HMAC-SHA256 states keyed with one key, reset to just
// after the key: a term costs two SHA-256 compressions fewer than with a
// fresh hmac.New, and allocates nothing but its output (a write of a row
// computes a dozen tokens). Each state carries the buffer its Sum writes
// into: a caller's would escape through hash.Hash's interface, one
// allocation more per term (a Parse of a LIKE computes a few).
type macPool struct {
	key  Secret
	pool sync.Pool
}

// macState is one pooled state and its output buffer.
type macState struct {
	h   hash.Hash
	out [sha256.Size]byte
}

func newMACPool(key []byte) *macPool {
	p := &macPool{key: NewSecret(key)}
	p.pool.New = func() any { return &macState{h: hmac.New(sha256.New, p.key.bytes())} }
	return p
}

// sumInto writes the first len(dst) bytes of HMAC(key, b) (at most
// sha256.Size) into dst.
func (p *macPool) sumInto(dst, b []byte) {
	m := p.pool.Get().(*macState)
	m.h.Write(b)
	copy(dst, m.h.Sum(m.out[:0]))
	m.h.Reset()
	clear(m.out[:])
	p.pool.Put(m)
}

type termsID struct {
	keyID   string
	version uint32
	domain  Column
}

// termsCache holds the Terms a keyring has derived, so each column's keys
// are derived once per keyring load.
type termsCache struct {
	mu sync.Mutex
	m  map[termsID]*Terms
}

// Terms returns the term keys of domain under version of keyID. Errors:
// ErrUnknownKey when keyID or that version is not loaded, and a domain
// without schema, table or name.
func (k *Keyring) Terms(keyID string, version uint32, domain Column) (*Terms, error) {
	if err := domain.validate(); err != nil {
		return nil, err
	}
	kv, err := k.lookup(keyID)
	if err != nil {
		return nil, err
	}
	v := kv.versions[version]
	if v == nil {
		return nil, fmt.Errorf("%w: key %q version %d is not loaded", ErrUnknownKey, keyID, version)
	}
	id := termsID{keyID, version, domain}
	k.terms.mu.Lock()
	defer k.terms.mu.Unlock()
	if t := k.terms.m[id]; t != nil {
		return t, nil
	}
	t, err := NewTerms(v.dk, domain)
	if err != nil {
		return nil, err
	}
	if k.terms.m == nil {
		k.terms.m = make(map[termsID]*Terms)
	}
	k.terms.m[id] = t
	return t, nil
}

// NewTerms derives the term keys of domain from one data key version:
//
//	K_kind = HKDF-SHA256(data key, no salt,
//	    "phiguard search term v1" | 0x00 | kind | len(key id) (1) | key id
//	    | version (4, BE) | len(schema) (4, BE) | schema | len(table) (4, BE)
//	    | table | len(column) (4, BE) | column, 32 bytes)
//
// for kind 'e', 'o' and 'm'.
func NewTerms(dk DataKey, domain Column) (*Terms, error) {
	if err := domain.validate(); err != nil {
		return nil, err
	}
	root := dk.Key.Expose()
	defer clear(root)
	if len(root) != DataKeySize {
		return nil, fmt.Errorf("keys: data key %q version %d: must be %d bytes", dk.ID, dk.Version, DataKeySize)
	}
	derive := func(kind termKind) ([]byte, error) {
		b, err := hkdf.Key(sha256.New, root, nil, string(termInfo(kind, dk, domain)), 32)
		if err != nil {
			return nil, fmt.Errorf("keys: derive search term key: %w", err)
		}
		return b, nil
	}
	t := &Terms{keyID: dk.ID, version: dk.Version, domain: domain}
	for _, kind := range []termKind{termEq, termMatch, termOrd} {
		b, err := derive(kind)
		if err != nil {
			return nil, err
		}
		switch kind {
		case termEq:
			t.eq = newMACPool(b)
		case termMatch:
			t.match = newMACPool(b)
		case termOrd:
			t.ord, err = aes.NewCipher(b)
		}
		clear(b)
		if err != nil {
			return nil, fmt.Errorf("keys: order term key: %w", err)
		}
	}
	return t, nil
}

func termInfo(kind termKind, dk DataKey, d Column) []byte {
	info := []byte("phiguard search term v1")
	info = append(info, 0, byte(kind), byte(len(dk.ID)))
	info = append(info, dk.ID...)
	info = binary.BigEndian.AppendUint32(info, dk.Version)
	for _, s := range []string{d.Schema, d.Table, d.Name} {
		info = binary.BigEndian.AppendUint32(info, uint32(len(s)))
		info = append(info, s...)
	}
	return info
}

// Eq is the equality term of an equality input q: the first EqTermSize
// bytes of HMAC-SHA256(K_e, q).
func (t *Terms) Eq(q []byte) []byte {
	out := make([]byte, EqTermSize)
	t.eq.sumInto(out, q)
	return out
}

// Ord is the order term of a sort input s (s_P: P bytes): 2·len(s) bytes
// whose memcmp order is s's (strictly: Ord(a) < Ord(b) iff a < b for
// inputs of one length).
func (t *Terms) Ord(s []byte) ([]byte, error) {
	return opeEncode(t.ord, s)
}

// Token is the match token of one token text (a trigram, or "^" and a
// prefix, as the caller spells it): the base64url, without padding, of
// the first 4 bytes of HMAC-SHA256(K_m, text), TokenSize characters.
func (t *Terms) Token(text []byte) string {
	var raw [4]byte
	t.match.sumInto(raw[:], text)
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// KeyID is the key id the terms derive from.
func (t *Terms) KeyID() string { return t.keyID }

// Version is the key version the terms derive from (search_key_version).
func (t *Terms) Version() uint32 { return t.version }

// Domain is the column (or deterministic key) the terms are bound to.
func (t *Terms) Domain() Column { return t.domain }

// String names the key, version and domain, never key bytes.
func (t *Terms) String() string {
	return fmt.Sprintf("keys.Terms{%s v%d %s}", t.keyID, t.version, t.domain)
}

// GoString is String.
func (t *Terms) GoString() string { return t.String() }

// Format writes String for every verb, so that no verb walks into the
// order cipher's key schedule.
func (t *Terms) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.String())) }
