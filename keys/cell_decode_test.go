package keys

import (
	"bytes"
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
