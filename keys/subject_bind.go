package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// A subject cell names its subject's key by tag, and the tag is a keyed
// hash of the subject id, so whoever holds the row's subject id can tell
// whether a cell was sealed for that row's subject — without the subject
// key and without the key store. The cell's associated data binds the
// cell to its column only; this check is what binds it to its row: a cell
// copied from patient A's row into patient B's decrypts with A's key, but
// its tag is A's, and B's row says B.

// maxScratchSubject is the longest subject id SealedFor hashes without
// allocating; longer ids (no UUID or number is) take the allocating path.
const maxScratchSubject = 128

// tagScratch is one HMAC under the tag key with the buffers a tag needs,
// reused through SubjectKeys.macs so that computing a tag allocates
// nothing: the proxy computes one per row that carries a subject cell and
// its subject column.
type tagScratch struct {
	mac   hash.Hash
	canon [maxScratchSubject]byte
	sum   [sha256.Size]byte
	hex   [2 * tagLen]byte
	head  [cellTagHeadChars / 4 * 3]byte
}

// cellTagHeadChars is how many base64url characters after the prefix
// cover a subject cell's header up to the end of its tag: format, mode,
// id length, "subj." and 32 hex digits are 40 bytes; 56 characters decode
// to 42 whole bytes. Every subject cell is longer (its body alone is 28
// bytes).
const cellTagHeadChars = 56

// b64Strict is b64 rejecting non-zero padding bits; Strict() allocates,
// so it is made once.
var b64Strict = b64.Strict()

func (s *SubjectKeys) scratch() *tagScratch {
	t, _ := s.macs.Get().(*tagScratch)
	if t == nil {
		t = &tagScratch{mac: hmac.New(sha256.New, s.tagKey)}
	}
	t.mac.Reset()
	return t
}

// tagInto computes subject's tag into t.hex.
func (t *tagScratch) tagInto(subject []byte) {
	subject = bytes.TrimSpace(subject)
	if len(subject) <= len(t.canon) {
		n := copy(t.canon[:], subject)
		if looksLikeUUID(t.canon[:n]) {
			for i, c := range t.canon[:n] {
				if c >= 'A' && c <= 'F' {
					t.canon[i] = c + ('a' - 'A')
				}
			}
		}
		t.mac.Write(t.canon[:n])
	} else {
		t.mac.Write([]byte(CanonicalSubject(string(subject))))
	}
	hex.Encode(t.hex[:], t.mac.Sum(t.sum[:0])[:tagLen])
}

// SealedFor reports whether cell is a subject cell sealed for subject (the
// row's subject column as text, in any spelling CanonicalSubject accepts).
// It is false for a cell of another subject and for anything that is not
// a well-formed subject cell header; it authenticates nothing (the tag in
// a header is only trusted once the cell decrypts under that tag's key,
// which Decrypt does). It needs no subject key and allocates nothing for
// subject ids up to 128 bytes.
func (s *SubjectKeys) SealedFor(cell, subject []byte) bool {
	text, ok := cellTextQuick(cell)
	if !ok || len(text) < cellTagHeadChars || !isSubjectText(text) {
		return false
	}
	t := s.scratch()
	defer s.macs.Put(t)
	if _, err := b64Strict.Decode(t.head[:], text[:cellTagHeadChars]); err != nil {
		return false
	}
	t.tagInto(subject)
	return hmac.Equal(t.head[3+len(subjectKeyPrefix):3+len(subjectKeyPrefix)+2*tagLen], t.hex[:])
}
