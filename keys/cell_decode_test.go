package keys

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeCellText: decodeCellText, which tells a skipped line break
// by the decoded length, refuses and accepts exactly what a scan for
// '\r' and '\n' before the strict decoder did, with the same bytes.
func FuzzDecodeCellText(f *testing.F) {
	for _, s := range []string{"", "A", "AQIF", "AQIFay1w\n", "AQIFay1w\r\n", "AQ\nIF", "AQIFa", "AQIFay", "AQIFay1", "AQIFay1w====", "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		_, raw, err := decodeCellText(nil, text)
		want := make([]byte, b64.DecodedLen(len(text)))
		n, werr := b64Strict.Decode(want, text)
		refused := werr != nil || bytes.ContainsAny(text, "\r\n")
		// Past the decoding, the header may still refuse the text.
		badText := err != nil && strings.Contains(err.Error(), "base64url")
		if refused && !errors.Is(err, ErrNotACell) || refused != badText {
			t.Fatalf("%q: %v, want refused %v (%v)", text, err, refused, werr)
		}
		if !refused && !bytes.Equal(raw[:n], want[:n]) {
			t.Fatalf("%q: decoded %x, want %x", text, raw[:n], want[:n])
		}
	})
}

// FuzzSubjectKeyID: for every value that parses as a cell, the check
// DecryptInto makes on the parsed key id (isSubjectKeyID) agrees with
// IsSubjectCell, and DecryptInto refuses a subject cell: a caller may try
// a cell under its column key first and ask IsSubjectCell only then.
func FuzzSubjectKeyID(f *testing.F) {
	ctx := context.Background()
	sk, err := NewSubjectKeys(subjectKeyring(f), &memStore{m: map[string][]byte{}}, SubjectKeysOptions{})
	if err != nil {
		f.Fatal(err)
	}
	kr := mustKeyring(f, "pii", 1)
	subj, _ := sk.Encrypt(ctx, "patient-1", colName, []byte("Gleason"))
	col, _ := kr.Encrypt("pii", Randomized, colName, []byte("Gleason"))
	subj2, _ := WithTerms(subj, sampleTerms(f))
	col2, _ := WithTerms(col, sampleTerms(f))
	for _, v := range [][]byte{subj, col, subj2, col2} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		c, err := parseCell(v)
		if err != nil {
			return
		}
		if isSubjectKeyID(c.keyID) != IsSubjectCell(v) {
			t.Fatalf("%q: isSubjectKeyID %v, IsSubjectCell %v", v, isSubjectKeyID(c.keyID), IsSubjectCell(v))
		}
		if _, err := kr.Decrypt(colName, v); IsSubjectCell(v) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("%q: a subject cell decrypted with the keyring: %v", v, err)
		}
	})
}
