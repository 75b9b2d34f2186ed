package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// TestAESSIVWycheproof runs the deterministic mode's primitive (Tink's
// AES-SIV with a 512-bit key, the size keys derives) against Wycheproof's
// AES-SIV-CMAC vectors: valid vectors must encrypt to exactly ct and
// decrypt back; invalid ones must not decrypt.
func TestAESSIVWycheproof(t *testing.T) {
	raw, err := os.ReadFile("testdata/wycheproof_aes_siv_cmac_512.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tests []struct {
			TcID    int    `json:"tcId"`
			Comment string `json:"comment"`
			Key     string `json:"key"`
			AAD     string `json:"aad"`
			Msg     string `json:"msg"`
			CT      string `json:"ct"`
			Result  string `json:"result"`
		} `json:"tests"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Tests) < 100 {
		t.Fatalf("only %d vectors", len(file.Tests))
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var valid, invalid int
	for _, tc := range file.Tests {
		key, aad, msg, ct := unhex(tc.Key), unhex(tc.AAD), unhex(tc.Msg), unhex(tc.CT)
		siv, err := subtle.NewAESSIV(key)
		if err != nil {
			t.Fatalf("tc %d: %v", tc.TcID, err)
		}
		switch tc.Result {
		case "valid":
			valid++
			got, err := siv.EncryptDeterministically(msg, aad)
			if err != nil || !bytes.Equal(got, ct) {
				t.Errorf("tc %d (%s): encrypt = %x, %v; want %x", tc.TcID, tc.Comment, got, err, ct)
			}
			pt, err := siv.DecryptDeterministically(ct, aad)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("tc %d (%s): decrypt = %x, %v", tc.TcID, tc.Comment, pt, err)
			}
		case "invalid":
			invalid++
			if pt, err := siv.DecryptDeterministically(ct, aad); err == nil {
				t.Errorf("tc %d (%s): invalid ciphertext decrypted to %x", tc.TcID, tc.Comment, pt)
			}
		default:
			t.Fatalf("tc %d: result %q", tc.TcID, tc.Result)
		}
	}
	t.Logf("%d valid, %d invalid vectors", valid, invalid)
}
