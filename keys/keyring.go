package keys

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Keyring holds the data keys in memory, by key id and version, and does
// all cell encryption and decryption. For each key id the highest version
// is the write version; every version present is readable.
//
// A Keyring is immutable and safe for concurrent use. Providers return a
// new Keyring after Init or Rotate; holders swap it in (for instance with
// an atomic.Pointer) and in-flight statements finish on the old one.
type Keyring struct {
	ids map[string]*keyVersions
	// withdrawn, when set, is why this keyring holds no keys: phiguard's
	// access to them was revoked (see Withdrawn). Every use fails with a
	// *WithdrawnError.
	withdrawn error
	// terms caches the search term keys derived from this keyring (Terms).
	terms termsCache
}

type keyVersions struct {
	write    uint32
	versions map[uint32]*version
}

// NewKeyring builds a keyring from data keys. Each (id, version) may appear
// once; ids must be valid (ValidateKeyID), versions at least 1 and keys
// DataKeySize bytes long. Versions need not be contiguous: a retired
// version is simply absent.
func NewKeyring(dks []DataKey) (*Keyring, error) {
	kr := &Keyring{ids: make(map[string]*keyVersions)}
	for _, dk := range dks {
		if err := ValidateKeyID(dk.ID); err != nil {
			return nil, err
		}
		if dk.Version == 0 {
			return nil, fmt.Errorf("keys: key %q: version must be at least 1", dk.ID)
		}
		kv := kr.ids[dk.ID]
		if kv == nil {
			kv = &keyVersions{versions: make(map[uint32]*version)}
			kr.ids[dk.ID] = kv
		}
		if _, dup := kv.versions[dk.Version]; dup {
			return nil, fmt.Errorf("keys: key %q version %d given twice", dk.ID, dk.Version)
		}
		v, err := newVersion(dk)
		if err != nil {
			return nil, err
		}
		kv.versions[dk.Version] = v
		kv.write = max(kv.write, dk.Version)
	}
	return kr, nil
}

// Encrypt seals plaintext for col under the write version of keyID and
// returns the text cell (see the package documentation for the format).
// In Deterministic mode the same (keyID version, col, plaintext) always
// gives the same cell. Errors: ErrUnknownKey when keyID is not loaded.
func (k *Keyring) Encrypt(keyID string, mode Mode, col Column, plaintext []byte) ([]byte, error) {
	if !mode.valid() {
		return nil, fmt.Errorf("keys: unknown mode %d", mode)
	}
	if err := col.validate(); err != nil {
		return nil, err
	}
	kv, err := k.lookup(keyID)
	if err != nil {
		return nil, err
	}
	return seal(kv.versions[kv.write], mode, col, plaintext)
}

// seal builds the cell of plaintext under v. The header, associated data
// and raw cell are pooled work buffers: the cell text returned is its only
// allocation (a Bind of a protected column pays it per value).
func seal(v *version, mode Mode, col Column, plaintext []byte) ([]byte, error) {
	w := sealWorkPool.Get().(*sealWork)
	defer w.put()
	w.raw = appendHeader(w.raw[:0], mode, v.dk.ID, v.dk.Version)
	header := w.raw
	w.ad = appendAssociatedData(w.ad[:0], header, col)
	raw, err := v.sealAppend(w.raw, mode, w.ad, plaintext)
	w.raw = raw
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(Prefix)+b64.EncodedLen(len(raw)))
	copy(out, Prefix)
	b64.Encode(out[len(Prefix):], raw)
	return out, nil
}

// sealWork is seal's buffers: the raw cell (header then body) and the
// associated data.
type sealWork struct{ raw, ad []byte }

var sealWorkPool = sync.Pool{New: func() any { return new(sealWork) }}

// put clears the raw cell (it held the ciphertext beside its key id; no
// plaintext) and returns the buffers to the pool, unless one grew past
// what a cell usually needs.
func (w *sealWork) put() {
	clear(w.raw)
	if cap(w.raw) > 4096 || cap(w.ad) > 4096 {
		return
	}
	sealWorkPool.Put(w)
}

// Decrypt authenticates a cell read from col and returns its plaintext.
// The key id, version and mode come from the cell itself. Errors:
// ErrNotACell (no prefix or malformed), ErrUnknownKey (the cell's key id or
// version is not in the keyring), ErrIntegrity (altered, from another
// column, or sealed under other key bytes).
func (k *Keyring) Decrypt(col Column, cellText []byte) ([]byte, error) {
	return k.DecryptInto(&Scratch{}, nil, col, cellText)
}

// Scratch holds the buffers DecryptInto reuses from one cell to the next
// (the cell's decoded bytes, its associated data), so that a caller
// opening many cells allocates for none of them. One per goroutine: it
// is not safe for concurrent use.
type Scratch struct {
	raw, ad []byte
}

// DecryptInto is Decrypt appending the plaintext to dst, with s's buffers
// for the work: the plaintext is dst's, and nothing returned shares s.
// An empty plaintext is an empty, non-nil slice.
func (k *Keyring) DecryptInto(s *Scratch, dst []byte, col Column, cellText []byte) ([]byte, error) {
	c, raw, err := parseCellInto(s.raw, cellText)
	s.raw = raw
	if err != nil {
		return nil, err
	}
	if isSubjectKeyID(c.keyID) {
		// A subject cell (IsSubjectCell: the header is the same bytes),
		// never opened with the keyring's keys, whatever ids it holds: a
		// caller may try a cell here first and ask IsSubjectCell only
		// when it fails.
		return nil, errSubjectCell
	}
	kv, err := k.lookupBytes(c.keyID)
	if err != nil {
		return nil, err
	}
	v := kv.versions[c.keyVersion]
	if v == nil {
		return nil, fmt.Errorf("%w: key %q version %d is not loaded", ErrUnknownKey, c.keyID, c.keyVersion)
	}
	s.ad = appendAssociatedData(s.ad[:0], c.header, col)
	pt, err := v.openInto(dst, c.mode, s.ad, c.body)
	if err != nil {
		return nil, fmt.Errorf("%w: column %s, key %q version %d", err, col, c.keyID, c.keyVersion)
	}
	return pt, nil
}

// EqualityCandidates returns the deterministic cells of plaintext for col
// under every loaded version of keyID, write version first. During a
// rotation a column holds cells of several versions, so `WHERE col = x`
// becomes `col IN (candidates...)` until re-encryption has finished.
func (k *Keyring) EqualityCandidates(keyID string, col Column, plaintext []byte) ([][]byte, error) {
	if err := col.validate(); err != nil {
		return nil, err
	}
	kv, err := k.lookup(keyID)
	if err != nil {
		return nil, err
	}
	vs := make([]uint32, 0, len(kv.versions))
	for n := range kv.versions {
		vs = append(vs, n)
	}
	slices.Sort(vs)
	slices.Reverse(vs)
	out := make([][]byte, 0, len(vs))
	for _, n := range vs {
		c, err := seal(kv.versions[n], Deterministic, col, plaintext)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// LiveVersions returns how many versions of keyID are loaded: the number
// of cells EqualityCandidates returns for one plaintext.
func (k *Keyring) LiveVersions(keyID string) (int, error) {
	kv, err := k.lookup(keyID)
	if err != nil {
		return 0, err
	}
	return len(kv.versions), nil
}

// WriteVersion returns the version Encrypt uses for keyID.
func (k *Keyring) WriteVersion(keyID string) (uint32, error) {
	kv, err := k.lookup(keyID)
	if err != nil {
		return 0, err
	}
	return kv.write, nil
}

// Status lists every key id with its versions, sorted by id. It never
// includes key bytes.
func (k *Keyring) Status() []KeyStatus {
	out := make([]KeyStatus, 0, len(k.ids))
	for id, kv := range k.ids {
		st := KeyStatus{ID: id, WriteVersion: kv.write}
		for _, v := range kv.versions {
			st.Versions = append(st.Versions, VersionStatus{Version: v.dk.Version, Created: v.dk.Created})
		}
		sort.Slice(st.Versions, func(i, j int) bool { return st.Versions[i].Version < st.Versions[j].Version })
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// String lists key ids and versions, never key bytes.
func (k *Keyring) String() string {
	var b strings.Builder
	b.WriteString("keys.Keyring{")
	for i, st := range k.Status() {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:", st.ID)
		for j, v := range st.Versions {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "v%d", v.Version)
		}
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, so %#v does not walk the internals.
func (k *Keyring) GoString() string { return k.String() }

// lookupBytes is lookup of a key id read from a cell: the map index by
// string(keyID) copies nothing; the error paths do.
func (k *Keyring) lookupBytes(keyID []byte) (*keyVersions, error) {
	if k != nil && k.withdrawn == nil {
		if kv := k.ids[string(keyID)]; kv != nil {
			return kv, nil
		}
	}
	return k.lookup(string(keyID))
}

func (k *Keyring) lookup(keyID string) (*keyVersions, error) {
	if k == nil {
		return nil, fmt.Errorf("%w: %q (no keyring loaded)", ErrUnknownKey, keyID)
	}
	if k.withdrawn != nil {
		return nil, &WithdrawnError{KeyID: keyID, Reason: k.withdrawn}
	}
	kv := k.ids[keyID]
	if kv == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	}
	return kv, nil
}

// DataKey returns the write version of keyID's data key, for deriving a
// key for another purpose (the audit chain's HMAC key). Its bytes stay in
// a Secret; callers derive from them and never keep or print them.
func (k *Keyring) DataKey(keyID string) (DataKey, error) {
	kv, err := k.lookup(keyID)
	if err != nil {
		return DataKey{}, err
	}
	return kv.versions[kv.write].dk, nil
}

// DataKeyVersion returns one version of keyID's data key, for checking
// what was derived from an older version (an audit chain written before a
// rotation).
func (k *Keyring) DataKeyVersion(keyID string, version uint32) (DataKey, error) {
	kv, err := k.lookup(keyID)
	if err != nil {
		return DataKey{}, err
	}
	if kv.versions[version] == nil {
		return DataKey{}, fmt.Errorf("%w: %q version %d", ErrUnknownKey, keyID, version)
	}
	return kv.versions[version].dk, nil
}
