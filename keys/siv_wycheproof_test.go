package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// TestAESSIVWycheproof runs the deterministic mode's primitive (AES-SIV
// with a 512-bit key, the size keys derives) against Wycheproof's
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
		siv, err := newAESSIV(key)
		if err != nil {
			t.Fatalf("tc %d: %v", tc.TcID, err)
		}
		switch tc.Result {
		case "valid":
			valid++
			if got := siv.seal(msg, aad); !bytes.Equal(got, ct) {
				t.Errorf("tc %d (%s): encrypt = %x; want %x", tc.TcID, tc.Comment, got, ct)
			}
			pt, err := siv.open(ct, aad)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("tc %d (%s): decrypt = %x, %v", tc.TcID, tc.Comment, pt, err)
			}
		case "invalid":
			invalid++
			if pt, err := siv.open(ct, aad); err == nil {
				t.Errorf("tc %d (%s): invalid ciphertext decrypted to %x", tc.TcID, tc.Comment, pt)
			}
		default:
			t.Fatalf("tc %d: result %q", tc.TcID, tc.Result)
		}
	}
	t.Logf("%d valid, %d invalid vectors", valid, invalid)
}

// TestAESSIVMatchesTink holds the deterministic cipher to Tink's AES-SIV,
// which wrote every deterministic cell before this release: for random
// keys, associated data and plaintexts of every length around the block
// boundaries, both seal to the same bytes and each opens the other's.
func TestAESSIVMatchesTink(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	for i := 0; i < 400; i++ {
		key := bytesOf(sivKeySize)
		ours, err := newAESSIV(key)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := subtle.NewAESSIV(key)
		if err != nil {
			t.Fatal(err)
		}
		pt, ad := bytesOf(i%70), bytesOf(rng.IntN(40))
		if i%7 == 0 {
			pt = bytesOf(200 + rng.IntN(300))
		}
		got := ours.seal(pt, ad)
		want, err := theirs.EncryptDeterministically(pt, ad)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("case %d (plaintext %d bytes, ad %d): ours %x, Tink's %x (%v)", i, len(pt), len(ad), got, want, err)
		}
		if back, err := ours.open(want, ad); err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("case %d: opening Tink's cell: %x, %v", i, back, err)
		}
		tampered := append([]byte(nil), got...)
		tampered[rng.IntN(len(tampered))] ^= 1 << rng.UintN(8)
		if _, err := ours.open(tampered, ad); err == nil {
			t.Fatalf("case %d: a changed cell opened", i)
		}
	}
}
