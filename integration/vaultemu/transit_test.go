package vaultemu

import (
	"strings"
	"testing"
)

func TestTransitRoundTrip(t *testing.T) {
	_, srv := start(t)
	if code, _ := call(t, srv, "root", "POST", "transit/keys/kek", `{"type":"aes256-gcm96"}`); code != 204 {
		t.Fatalf("create: %d", code)
	}
	if code, _ := call(t, srv, "root", "PUT", "transit/keys/kek", ``); code != 204 {
		t.Fatalf("create again (idempotent): %d", code)
	}
	code, resp := call(t, srv, "root", "POST", "transit/encrypt/kek", `{"plaintext":"aGVsbG8="}`)
	ct, _ := data(t, resp)["ciphertext"].(string)
	if code != 200 || !strings.HasPrefix(ct, "vault:v1:") || data(t, resp)["key_version"] != float64(1) {
		t.Fatalf("encrypt: %d %v", code, resp)
	}
	code, resp = call(t, srv, "root", "POST", "transit/decrypt/kek", `{"ciphertext":"`+ct+`"}`)
	if code != 200 || data(t, resp)["plaintext"] != "aGVsbG8=" {
		t.Fatalf("decrypt: %d %v", code, resp)
	}

	// After rotating the KEK, new ciphertexts are v2 and v1 still decrypts.
	if code, _ := call(t, srv, "root", "POST", "transit/keys/kek/rotate", ``); code != 204 {
		t.Fatalf("rotate: %d", code)
	}
	_, resp = call(t, srv, "root", "POST", "transit/encrypt/kek", `{"plaintext":"aGk="}`)
	if ct2 := data(t, resp)["ciphertext"].(string); !strings.HasPrefix(ct2, "vault:v2:") {
		t.Errorf("after rotate: %s", ct2)
	}
	if code, _ := call(t, srv, "root", "POST", "transit/decrypt/kek", `{"ciphertext":"`+ct+`"}`); code != 200 {
		t.Errorf("old version: %d", code)
	}
}

func TestTransitErrors(t *testing.T) {
	emu, srv := start(t)
	emu.CreateTransitKey("kek")
	_, resp := call(t, srv, "root", "POST", "transit/encrypt/kek", `{"plaintext":"aGVsbG8="}`)
	ct := data(t, resp)["ciphertext"].(string)
	tampered := ct[:len(ct)-3] + "AAA"
	for name, body := range map[string]string{
		"tampered":    `{"ciphertext":"` + tampered + `"}`,
		"no prefix":   `{"ciphertext":"abc"}`,
		"bad version": `{"ciphertext":"vault:v9:` + ct[9:] + `"}`,
		"bad base64":  `{"ciphertext":"vault:v1:!!!"}`,
	} {
		code, resp := call(t, srv, "root", "POST", "transit/decrypt/kek", body)
		if code != 400 || len(errorsOf(resp)) != 1 {
			t.Errorf("%s: %d %v", name, code, resp)
		}
	}
	if code, _ := call(t, srv, "root", "POST", "transit/decrypt/other", `{"ciphertext":"`+ct+`"}`); code != 400 {
		t.Errorf("unknown key: %d", code)
	}
	if code, _ := call(t, srv, "root", "POST", "transit/encrypt/kek", `{"plaintext":"not base64!"}`); code != 400 {
		t.Errorf("bad plaintext: %d", code)
	}
}
