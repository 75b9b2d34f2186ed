package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// SubjectKeyID is the dedicated data key of crypto-shredding: subject tags
// are derived from its version 1 (so they never change), and subject keys
// are wrapped under its write version. `phiguard keys init` creates it when
// the policy names a subject column. It is a key id like any other and is
// backed up with the column keys (docs/shredding.md).
const SubjectKeyID = "subjects"

// subjectKeyPrefix starts the key id a subject cell names in its header:
// "subj." + the subject's 32-hex-digit tag. A policy key id cannot start
// with it (ValidatePolicyKeyID).
const subjectKeyPrefix = "subj."

// tagLen is the length of a subject tag in bytes (hex-encoded twice that).
const tagLen = 16

// Errors of crypto-shredding.
var (
	// ErrShredded: the subject's key was destroyed by `phiguard shred`.
	// Cells sealed under it are gone for good; new writes for the subject
	// are refused.
	ErrShredded = errors.New("keys: subject key shredded")

	// ErrNoSubjectKey: the store holds no key (and no tombstone) for the
	// subject tag: the key was never created in this store.
	ErrNoSubjectKey = errors.New("keys: no key for this subject in the key store")
)

// SubjectStore keeps wrapped subject keys and their tombstones. Providers
// implement it beside Provider (keys/local: records in pack files; keys/vault:
// one KV v2 secret per tag). Wrapped keys are opaque to the store: they
// are sealed by the subjects data key, which the store never sees.
type SubjectStore interface {
	// GetSubjectKey returns the wrapped key of tag, or ErrShredded, or
	// ErrNoSubjectKey.
	GetSubjectKey(ctx context.Context, tag string) ([]byte, error)
	// CreateSubjectKey stores wrapped for tag only if nothing is stored
	// for tag yet (a key or a tombstone); otherwise it returns ErrConflict
	// and the caller reads what is there. That makes creation safe with
	// any number of proxies: the first writer wins, everyone uses its key.
	CreateSubjectKey(ctx context.Context, tag string, wrapped []byte) error
	// ShredSubjectKey destroys tag's key and leaves a tombstone so that
	// the key is never re-created. It reports what was there before.
	ShredSubjectKey(ctx context.Context, tag string) (ShredOutcome, error)
}

// ShredOutcome is what a shred found.
type ShredOutcome int

// Outcomes of ShredSubjectKey.
const (
	// ShredDestroyed: a key existed and was destroyed.
	ShredDestroyed ShredOutcome = iota + 1
	// ShredAlready: the subject was shredded before; nothing changed.
	ShredAlready
	// ShredNoKey: no key existed (nothing was ever written for the
	// subject through phiguard); a tombstone now refuses future writes.
	ShredNoKey
)

func (o ShredOutcome) String() string {
	switch o {
	case ShredDestroyed:
		return "destroyed"
	case ShredAlready:
		return "already_shredded"
	case ShredNoKey:
		return "no_key"
	}
	return fmt.Sprintf("ShredOutcome(%d)", int(o))
}

// CanonicalSubject is the form of a subject id that tags are computed
// from: the text as written, with surrounding whitespace removed and a
// UUID in lower case, since PostgreSQL prints uuid values that way and an
// application may spell them either way. Everything else is compared
// exactly: subject "042" and "42" are different subjects.
func CanonicalSubject(id string) string {
	id = strings.TrimSpace(id)
	if looksLikeUUID(id) {
		return strings.ToLower(id)
	}
	return id
}

func looksLikeUUID[S ~string | ~[]byte](s S) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// SubjectTag names a subject's key without naming the subject:
// hex(HMAC-SHA256(K, canonical id))[:32], K derived from version 1 of the
// subjects key. Without that key the tag cannot be linked to an id, so
// cells, stores and logs carry the tag, never the id.
func SubjectTag(kr *Keyring, subject string) (string, error) {
	k, err := subjectTagKey(kr)
	if err != nil {
		return "", err
	}
	defer clear(k)
	return tagWith(k, subject), nil
}

func tagWith(k []byte, subject string) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(CanonicalSubject(subject)))
	return hex.EncodeToString(m.Sum(nil)[:tagLen])
}

func subjectTagKey(kr *Keyring) ([]byte, error) {
	dk, err := kr.DataKeyVersion(SubjectKeyID, 1)
	if err != nil {
		return nil, fmt.Errorf("%w (crypto-shredding needs key id %q version 1: run phiguard keys init)", err, SubjectKeyID)
	}
	root := dk.Key.Expose()
	defer clear(root)
	return hkdf.Key(sha256.New, root, nil, "phiguard subject tag v1", 32)
}

// SubjectKeyIDOf returns the key id a subject cell names for tag.
func SubjectKeyIDOf(tag string) string { return subjectKeyPrefix + tag }

// SubjectTagOf returns the tag in a cell's key id, if it is a subject key.
func SubjectTagOf(keyID string) (string, bool) {
	tag, ok := strings.CutPrefix(keyID, subjectKeyPrefix)
	return tag, ok && validTag(tag)
}

func validTag(tag string) bool {
	if len(tag) != 2*tagLen {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// IsSubjectCell reports whether v is a cell (of either format) whose
// header names a subject key. It decodes only the header's first bytes,
// since the proxy asks it of every protected value it reads;
// SubjectKeys.Decrypt validates the rest.
func IsSubjectCell(v []byte) bool {
	text, ok := cellTextQuick(v)
	return ok && isSubjectText(text)
}

// isSubjectKeyID is isSubjectText's verdict on a parsed cell's key id.
func isSubjectKeyID(id []byte) bool {
	return len(id) == len(subjectKeyPrefix)+2*tagLen && string(id[:len(subjectKeyPrefix)]) == subjectKeyPrefix
}

// errSubjectCell is Keyring.DecryptInto's answer for a subject cell.
var errSubjectCell = fmt.Errorf("%w: a subject cell, sealed under its subject's key", ErrUnknownKey)

// isSubjectText is IsSubjectCell on a cell's base64url text.
func isSubjectText(text []byte) bool {
	const n = 12 // base64url characters for the first 9 bytes
	if len(text) < n {
		return false
	}
	var raw [9]byte
	if _, err := b64.Decode(raw[:], text[:n]); err != nil {
		return false
	}
	return raw[0] == formatV1 && int(raw[2]) == len(subjectKeyPrefix)+2*tagLen && string(raw[3:8]) == subjectKeyPrefix
}

// ValidatePolicyKeyID is ValidateKeyID plus the ids phiguard reserves for
// itself: a policy may not name a subject key id.
func ValidatePolicyKeyID(id string) error {
	if err := ValidateKeyID(id); err != nil {
		return err
	}
	if strings.HasPrefix(id, subjectKeyPrefix) {
		return fmt.Errorf("keys: key id %q: the prefix %q is reserved for subject keys", id, subjectKeyPrefix)
	}
	return nil
}

// Wrapped subject key layout: wrapping version (4 bytes, big-endian) |
// nonce (12) | AES-256-GCM(subject key) with associated data
// "phiguard subject key v1" | tag. The wrapping key is HKDF of that
// version of the subjects data key, so rotating "subjects" changes the
// wrapping of new subject keys and old ones stay readable.
const wrapAD = "phiguard subject key v1"

func wrapSubjectKey(kr *Keyring, wc *wrapCiphers, tag string, key []byte) ([]byte, error) {
	dk, err := kr.DataKey(SubjectKeyID)
	if err != nil {
		return nil, fmt.Errorf("%w (crypto-shredding needs key id %q: run phiguard keys init)", err, SubjectKeyID)
	}
	aead, err := wc.get(dk)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint32(nil, dk.Version)
	nonce := make([]byte, gcmNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, key, []byte(wrapAD+tag)), nil
}

func unwrapSubjectKey(kr *Keyring, wc *wrapCiphers, tag string, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 4+gcmNonceLen+gcmTagLen {
		return nil, fmt.Errorf("%w: subject key %s: wrapped key too short", ErrIntegrity, tag)
	}
	dk, err := kr.DataKeyVersion(SubjectKeyID, binary.BigEndian.Uint32(wrapped))
	if err != nil {
		return nil, err
	}
	aead, err := wc.get(dk)
	if err != nil {
		return nil, err
	}
	key, err := aead.Open(nil, wrapped[4:4+gcmNonceLen], wrapped[4+gcmNonceLen:], []byte(wrapAD+tag))
	if err != nil || len(key) != DataKeySize {
		return nil, fmt.Errorf("%w: subject key %s does not unwrap", ErrIntegrity, tag)
	}
	return key, nil
}

func wrapAEAD(dk DataKey) (cipher.AEAD, error) {
	root := dk.Key.Expose()
	defer clear(root)
	k, err := hkdf.Key(sha256.New, root, nil, "phiguard subject wrap v1", 32)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrapCiphers keeps the wrapping cipher of each version of the subjects
// key, so that wrapping or unwrapping one subject key (the backfill does
// it once per patient) costs no HKDF and cipher setup. A version's key
// never changes in a Keyring, so neither does its cipher. The zero value
// is ready; a nil *wrapCiphers derives the cipher every time.
type wrapCiphers struct {
	mu sync.Mutex
	m  map[uint32]cipher.AEAD
}

func (w *wrapCiphers) get(dk DataKey) (cipher.AEAD, error) {
	if w == nil {
		return wrapAEAD(dk)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if a := w.m[dk.Version]; a != nil {
		return a, nil
	}
	a, err := wrapAEAD(dk)
	if err != nil {
		return nil, err
	}
	if w.m == nil {
		w.m = map[uint32]cipher.AEAD{}
	}
	w.m[dk.Version] = a
	return a, nil
}
